import { Injectable, Optional } from '@nestjs/common';
import { BudgetExhausted, ScheduleBusy, ScheduleNotFound } from '../common/domain-errors.js';
import type { Schedule } from '../domain/schedule.js';
import type { Page, PageRequest } from '../common/page.js';
import { DispatchMode } from '../config/dispatch-mode.js';
import { Metrics } from '../metrics/metrics.js';
import { FiringStorage } from '../storage/ports/firing.storage.js';
import { HistoryStorage, type SessionJson } from '../storage/ports/history.storage.js';
import { fireWrite } from '../domain/fire.js';
import type { Run, RunOverrides } from '../domain/run.js';

@Injectable()
export class SessionsService {
  constructor(
    private readonly history: HistoryStorage,
    private readonly firing: FiringStorage,
    private readonly dispatch: DispatchMode,
    @Optional() private readonly metrics: Metrics = Metrics.none,
  ) {}

  /**
   * The sessions the user's schedule triggered, newest first: all of them, or one page, with
   * their documents as the JSON text they are stored as (the page is spliced, not serialised);
   * ScheduleNotFound when the schedule is not theirs.
   */
  async listBySchedule(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson>> {
    const found = await this.history.pageSessionsJson(userId, scheduleId, page);
    if (!found) throw new ScheduleNotFound(scheduleId);
    return found;
  }

  /**
   * A manual fire: creates (or, for a stateful schedule, appends to) the execution session and
   * records its run, handed to the runtime when fires are dispatched. The overlap policy is
   * decided by the storage against the runs active at that moment: ScheduleBusy when it refuses
   * the fire, which then writes nothing; BudgetExhausted when the schedule's budget is exhausted
   * for the current period (nothing written either).
   */
  async fire(
    schedule: Schedule,
    firedAt: Date,
    asked: { overrides?: RunOverrides | null; replayOf?: string | null } = {},
  ): Promise<{ sessionId: string; run: Run }> {
    const trigger = asked.replayOf ? 'replay' : 'manual';
    const outcome = await this.firing.recordFire(fireWrite(schedule, firedAt, trigger, firedAt, this.dispatch.dispatching, asked));
    switch (outcome.status) {
      case 'fired':
        this.metrics.recordFire(trigger, outcome.run.status);
        return { sessionId: outcome.sessionId, run: outcome.run };
      case 'busy':
        this.metrics.recordFire(trigger, 'skipped');
        this.metrics.recordSkip(trigger, 'overlap');
        throw new ScheduleBusy(schedule.id, outcome.blockingRunId);
      case 'budget-exhausted':
        this.metrics.recordFire(trigger, 'skipped');
        this.metrics.recordSkip(trigger, 'budget_exhausted');
        throw new BudgetExhausted(schedule.id, outcome.resetsAt);
      case 'not-found':
        throw new ScheduleNotFound(schedule.id);
      case 'taken':
        throw new Error('unreachable: a manual run or a replay takes no fire time');
    }
  }

  /**
   * A backfill of one past fire time `slot`: fired now as a `backfill` run for it, whatever the
   * overlap policy (it was asked for explicitly), under the budget. `taken` when the time has a
   * run already (nothing written), `budget-exhausted` when the budget's period is.
   */
  async backfill(schedule: Schedule, firedAt: Date, slot: Date): Promise<{ status: 'fired'; run: Run } | { status: 'taken' | 'budget-exhausted' }> {
    const write = fireWrite(schedule, firedAt, 'backfill', slot, this.dispatch.dispatching);
    if (write.dispatch) write.dispatch = { ...write.dispatch, overlapPolicy: 'allow' };
    const outcome = await this.firing.recordFire(write);
    switch (outcome.status) {
      case 'fired':
        this.metrics.recordFire('backfill', outcome.run.status);
        return { status: 'fired', run: outcome.run };
      case 'taken':
        return { status: 'taken' };
      case 'budget-exhausted':
        this.metrics.recordSkip('backfill', 'budget_exhausted');
        return { status: 'budget-exhausted' };
      case 'busy':
        throw new Error('unreachable: a backfill fires whatever is active');
      case 'not-found':
        throw new ScheduleNotFound(schedule.id);
    }
  }
}
