import { type EntityManager, In } from 'typeorm';
import type { ClaimedDelivery, DeliveryResult } from '../../domain/delivery.js';
import { jsonTextBytes, keepNewestWithin, timeoutAfter } from '../../domain/fire.js';
import {
  type DispatchAttempt,
  isActiveRunStatus,
  isFinalRunStatus,
  type Run,
  type RuntimeRunStatus,
  runTransition,
} from '../../domain/run.js';
import type { Session, SessionState } from '../../domain/session.js';
import { DeliveryStorage, type RunReportOutcome } from '../ports/delivery.storage.js';
import { toDispatchAttemptRow, toRun, toSchedule, toSession } from './entities/row.mapper.js';
import type { SessionRow } from './entities/session.entity.js';
import { type TypeOrmContext, writable } from './typeorm-context.js';

export class TypeOrmDeliveryStorage extends DeliveryStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    const { dispatch } = this.db;
    return this.db.transaction(async (em) => {
      // Locked (SKIP LOCKED) until the lease is written: concurrent claimers take other entries.
      const due = await dispatch.dueOutbox(em, now, limit);
      if (due.length === 0) return [];
      const runs = new Map((await this.db.runs(em).findBy({ id: In(due.map((d) => d.runId)) })).map((r) => [r.id, toRun(r)]));
      const scheduleIds = [...new Set([...runs.values()].map((r) => r.scheduleId))];
      const scheduleRows = scheduleIds.length > 0 ? await this.db.schedules(em).findBy({ id: In(scheduleIds) }) : [];
      const schedules = new Map(scheduleRows.map((s) => [s.id, toSchedule(s)]));
      const deliverable = due.filter((d) => {
        const run = runs.get(d.runId);
        return run !== undefined && isActiveRunStatus(run.status) && schedules.has(run.scheduleId);
      });
      const deliverableIds = new Set(deliverable.map((d) => d.runId));
      await dispatch.deleteOutbox(em, due.filter((d) => !deliverableIds.has(d.runId)).map((d) => d.runId));
      await dispatch.leaseOutbox(em, [...deliverableIds], leaseUntil);
      const sessionIds = [...new Set(deliverable.flatMap((d) => runs.get(d.runId)!.sessionId ?? []))];
      const sessionRows = sessionIds.length > 0 ? await this.db.sessions(em).findBy({ id: In(sessionIds) }) : [];
      const sessions = new Map(sessionRows.map((s) => [s.id, toSession(s)]));
      return deliverable.map((d): ClaimedDelivery => {
        const run = runs.get(d.runId)!;
        return {
          run,
          schedule: schedules.get(run.scheduleId)!,
          session: (run.sessionId && sessions.get(run.sessionId)) || null,
          attemptsMade: d.attempts,
        };
      });
    });
  }

  async recordDeliveryAttempt(attempt: DispatchAttempt, result: DeliveryResult, now: Date): Promise<void> {
    await this.db.transaction(async (em) => {
      const runId = attempt.runId;
      const found = await this.db.runs(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId } });
      if (!found) {
        await this.db.dispatch.deleteOutbox(em, [runId]);
        return;
      }
      await this.db.bulk.insert(em, 'dispatch_attempts', [toDispatchAttemptRow(attempt)]);
      switch (result.outcome) {
        case 'delivered':
          // A run the runtime has already moved on (reported running, or ended) keeps its status.
          await this.db.runs(em).update({ id: runId, status: 'pending' }, { status: 'dispatched' });
          await this.db.dispatch.deleteOutbox(em, [runId]);
          return;
        case 'retry':
          await this.db.outbox(em).update(
            { run_id: runId },
            { available_at: result.nextAttemptAt, lease_until: null, attempts: () => 'attempts + 1' },
          );
          return;
        case 'completed':
          await this.endRunIfActive(em, found.schedule_id, runId, result.status, result.error, now);
          return;
        case 'gave-up':
          await this.endRunIfActive(em, found.schedule_id, runId, 'failed', result.error, now);
          return;
      }
    });
  }

  async reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date): Promise<RunReportOutcome> {
    const { dispatch } = this.db;
    return this.db.transaction(async (em) => {
      const found = await this.db.runs(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId } });
      if (!found) return { status: 'not-found' };
      const held = await dispatch.holdSchedules(em, [found.schedule_id], false);
      // Re-read under the schedule's lock: the endings of its runs are serialised by it. (A schedule
      // that is gone took its runs with it.)
      const row = await this.db.runs(em).findOneBy({ id: runId });
      if (!row || held.length === 0) return { status: 'not-found' };
      const run = toRun(row);
      const transition = runTransition(run.status, to);
      if (transition === 'noop') return { status: 'unchanged', run };
      if (transition === 'illegal') return { status: 'illegal', run };
      const reported: Run = { ...run, status: to, error: to === 'failed' ? error : null };
      if (isFinalRunStatus(to)) {
        await dispatch.endRuns(em, [{ runId, scheduleId: run.scheduleId, status: to, error: reported.error }], held, now);
        return { status: 'applied', run: { ...reported, finishedAt: now } };
      }
      // A run that was waiting has no timeout yet: it takes one now, so that it cannot stay active for ever.
      const timeoutAt = run.timeoutAt ?? timeoutAfter(now, held[0].runTimeoutSeconds);
      await this.db.runs(em).update({ id: runId }, { status: to, error: null, timeout_at: timeoutAt });
      // The runtime has the run: it is not delivered again; a message it kept (it was waiting) goes to its session.
      await dispatch.appendKeptMessages(em, 'run_id', [runId], now);
      await dispatch.deleteOutbox(em, [runId]);
      return { status: 'applied', run: { ...reported, timeoutAt } };
    });
  }

  async putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null> {
    const { options } = this.db;
    return this.db.transaction(async (em) => {
      const context = state.context.slice(-options.statefulSessionMaxMessages);
      const bounds = { maxMessages: options.statefulSessionMaxMessages, maxBytes: options.statefulSessionMaxBytes };
      keepNewestWithin(context, bounds, (message) => jsonTextBytes(JSON.stringify(message)));
      const kept = { ...state, context };
      const result = await this.db.sessions(em).update({ id: sessionId }, writable<SessionRow>({ state: kept, updated_at: now }));
      if ((result.affected ?? 0) === 0) return null;
      const row = await this.db.sessions(em).findOneBy({ id: sessionId });
      return row ? toSession(row) : null;
    });
  }

  /**
   * Ends the run if it is still active, in a transaction that then holds its schedule: with
   * `status` and `error`, its outbox entry deleted, the schedule's waiting run released. A run
   * that has ended already keeps its status; its outbox entry goes all the same.
   */
  private async endRunIfActive(em: EntityManager, scheduleId: string, runId: string, status: Run['status'], error: string | null, now: Date): Promise<void> {
    const held = await this.db.dispatch.holdSchedules(em, [scheduleId], false);
    const row = await this.db.runs(em).findOne({ select: { id: true, status: true }, where: { id: runId } });
    if (row && isActiveRunStatus(row.status as Run['status'])) {
      await this.db.dispatch.endRuns(em, [{ runId, scheduleId, status, error }], held, now);
    } else {
      await this.db.dispatch.deleteOutbox(em, [runId]);
    }
  }
}
