import { type EntityManager, IsNull } from 'typeorm';
import { takesFireTime } from '../../domain/run.js';
import { ROWS_PER_STATEMENT } from './bulk-sql.js';
import {
  type ClaimOutcome,
  decideFire,
  type DueFirePlan,
  type FireWrite,
  keepsMessageUntilReleased,
  NO_ACTIVITY,
  type ScheduleActivity,
  timedOutError,
} from '../../domain/fire.js';
import type { ClaimedDelivery } from '../../domain/delivery.js';
import { doneAs, MAX_RUNS_REACHED, maxRunsReached, type Schedule } from '../../domain/schedule.js';
import { scheduleEvent } from '../../domain/schedule-event.js';
import { afterFireTime, budgetBlocksUntil, statsToJson } from '../../domain/schedule-stats.js';
import type { HandOffReservation } from '../dispatch-hand-off.js';
import { type DueBacklog, FiringStorage, type RecordFireOutcome } from '../ports/firing.storage.js';
import type { RunEnding } from './dispatch-sql.js';
import { type RawScheduleRow, scheduleFromRaw, toRunRow, toSchedule } from './entities/row.mapper.js';
import { decidedClaim, FireWrites, firedOutcome, outboxRow } from './fire-writes.js';
import type { TypeOrmContext } from './typeorm-context.js';

export class TypeOrmFiringStorage extends FiringStorage {
  private readonly writes: FireWrites;

  constructor(private readonly db: TypeOrmContext) {
    super();
    this.writes = new FireWrites(db);
  }

  async recordFire(fire: FireWrite): Promise<RecordFireOutcome> {
    const { userId, sourceScheduleId } = fire.session;
    if (!sourceScheduleId) return { status: 'not-found' };
    let reservation: HandOffReservation | null = null;
    let handed: ClaimedDelivery[] = [];
    const outcome = await this.db.scheduleWrite(sourceScheduleId, async (em, ready): Promise<RecordFireOutcome> => {
      // Holding the schedule row serialises the fires of one schedule (and races with its deletion),
      // and the endings of its runs, which release a waiting run (see DispatchSql.endRuns).
      const row = await this.db.holdSchedule(em, userId, sourceScheduleId);
      if (!row) return { status: 'not-found' };
      if (takesFireTime(fire.run.trigger) && (await this.takenIn(em, sourceScheduleId, [fire.run.scheduledFor])).size > 0) return { status: 'taken' };
      const stored = toSchedule(row);
      const budgetBlocks = budgetBlocksUntil(stored, fire.run.scheduledFor);
      const activity =
        !budgetBlocks && fire.dispatch && fire.dispatch.overlapPolicy !== 'allow'
          ? await this.db.dispatch.activity(em, sourceScheduleId, fire.firedAt)
          : NO_ACTIVITY;
      const decided = decideFire(fire, activity, budgetBlocks);
      // A manual fire the policy or the budget skips is refused: nothing of it is recorded.
      if (decided.kind === 'skip') {
        return decided.budgetResetsAt ? { status: 'budget-exhausted', resetsAt: decided.budgetResetsAt } : { status: 'busy', blockingRunId: decided.blockingRunId! };
      }
      const written = decided.fire;
      // `replace`: the runs in the way are cancelled first (releasing nothing: the waiting one goes too).
      if (decided.kind === 'dispatch' && decided.replaces?.length) {
        await this.db.dispatch.cancelRuns(em, decided.replaces, await this.db.dispatch.holdSchedules(em, [sourceScheduleId], false), fire.firedAt);
      }
      const deliverable = decided.kind === 'dispatch' && decided.outboxAvailableAt !== null;
      // A stateless fire goes straight to this process's dispatcher if it has room (a
      // stateful one's session would have to be read whole for the webhook: it is claimed).
      reservation = deliverable && !written.stateful ? this.db.handOff.reserve(1, written.firedAt) : null;
      const leaseUntil = reservation?.leaseUntil ?? null;
      // A waiting stateful fire leaves an existing session as it is: its message waits with its outbox entry.
      const keepsMessage = keepsMessageUntilReleased(decided);
      const existed = await this.writes.writeSession(em, written, keepsMessage);
      await this.db.bulk.insert(em, 'runs', [toRunRow(written.run)]);
      if (decided.kind === 'dispatch') {
        const kept = keepsMessage && existed ? written.message : null;
        await this.db.bulk.insert(em, 'outbox', [{ ...outboxRow(written, decided.outboxAvailableAt, kept), lease_until: leaseUntil }]);
      }
      // One fire more (and its stats); its max_runs-th makes the schedule done.
      const fireCount = row.fire_count + 1;
      const { stats, budgetExhaustedUntil, exhaustedNow } = afterFireTime(stored, [written.run], { at: written.run.scheduledFor });
      const bookkeeping = { last_run_at: written.firedAt, fire_count: fireCount, stats: statsToJson(stats), budget_exhausted_until: budgetExhaustedUntil };
      await this.db.schedules(em).update({ id: written.run.scheduleId }, bookkeeping);
      const done = maxRunsReached({ maxRuns: row.max_runs, fireCount });
      if (done) await this.writes.markDone(em, [written.run.scheduleId], 'max_runs_reached', written.firedAt);
      await this.db.events.insert(em, [
        ...(exhaustedNow ? [scheduleEvent(stored, 'schedule.budget_exhausted', written.firedAt, budgetExhaustedUntil)] : []),
        ...(done ? [scheduleEvent(stored, 'schedule.completed', written.firedAt)] : []),
      ]);
      if (leaseUntil) {
        const schedule = { ...stored, lastRunAt: written.firedAt, fireCount, stats, budgetExhaustedUntil, ...(done ? MAX_RUNS_REACHED : {}) };
        handed = [{ run: structuredClone(written.run), schedule, session: structuredClone(written.session), attemptsMade: 0 }];
      } else if (deliverable) {
        await ready();
      }
      return { status: 'fired', sessionId: written.session.id, run: structuredClone(written.run) };
    }).catch((error: unknown) => {
      (reservation as HandOffReservation | null)?.cancel();
      throw error;
    });
    (reservation as HandOffReservation | null)?.settle(handed);
    return outcome;
  }

  async takenFireTimes(userId: string, scheduleId: string, times: readonly Date[]): Promise<Set<number>> {
    if (times.length === 0) return new Set();
    return this.takenIn(this.db.dataSource.manager, scheduleId, times, userId);
  }

  /** Of these fire times of the schedule, those with a run that takes its fire time (the unique key's runs). */
  private async takenIn(em: EntityManager, scheduleId: string, times: readonly Date[], userId?: string): Promise<Set<number>> {
    const { dialect, bulk } = this.db;
    const taken = new Set<number>();
    for (let i = 0; i < times.length; i += ROWS_PER_STATEMENT) {
      const params: unknown[] = [scheduleId];
      const list = bulk.list(params, times.slice(i, i + ROWS_PER_STATEMENT));
      const owner = userId === undefined ? '' : ` AND user_id = ${bulk.slot(params, userId)}`;
      const rows: Array<{ scheduled_for: Date | string }> = await em.query(
        `SELECT scheduled_for FROM runs WHERE schedule_id = ${dialect.placeholder(1)}${owner} AND scheduled_for IN ${list}
            AND trigger <> 'manual' AND trigger <> 'replay'`,
        params,
      );
      for (const row of Array.from(rows)) taken.add(dialect.timestampFromRaw(row.scheduled_for).getTime());
    }
    return taken;
  }

  async claimDueSchedules(now: Date, limit: number, plan: (schedule: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    let reservation: HandOffReservation | null = null;
    let handed: ClaimedDelivery[] = [];
    const outcomes = await this.db.transaction(async (em, ready) => {
      const { dialect } = this.db;
      const p = dialect.placeholder;
      // SKIP LOCKED: replicas claiming at the same moment take disjoint schedules instead of queueing.
      // (SQLite has one writer at a time and this process queues its own transactions.) A raw
      // query: hydrating entities cost more than the query.
      const rows: RawScheduleRow[] = await em.query(
        `SELECT * FROM schedules WHERE next_run_at <= ${p(1)} ORDER BY next_run_at, id LIMIT ${p(2)}${dialect.lockClause(true)}`,
        [dialect.param(now), limit],
      );
      const claimed = Array.from(rows, (row) => scheduleFromRaw(dialect, row));
      const plans = claimed.map((schedule) => plan(schedule));
      // The overlap policy of every dispatched fire, against its schedule's runs: one read for the
      // batch (`allow` fires whatever is active: no need to look).
      const dispatched = plans.flatMap((plan) =>
        plan.fire?.dispatch && plan.fire.dispatch.overlapPolicy !== 'allow' ? [{ scheduleId: plan.scheduleId, firedAt: plan.fire.firedAt }] : [],
      );
      const activities = dispatched.length > 0 ? await this.db.dispatch.activities(em, dispatched) : new Map<string, ScheduleActivity>();
      const claims = plans.map((p, i) => decidedClaim(p, activities.get(p.scheduleId) ?? NO_ACTIVITY, claimed[i]));
      // Deliverable stateless fires go straight to this process's dispatcher, as many as it has
      // free slots: leased to it here, handed over once this commits (see DispatchHandOff).
      const deliverable = claims.filter((c) => c.outbox?.available_at);
      const handable = deliverable.filter((c) => !c.fire!.stateful);
      reservation = this.db.handOff.reserve(handable.length, now);
      const leased = new Set(handable.slice(0, reservation.count).map((c) => c.scheduleId));
      for (const claim of deliverable) if (leased.has(claim.scheduleId)) claim.outbox!.lease_until = reservation.leaseUntil;
      let outcomes: ClaimOutcome[];
      try {
        // The common case: every plan writes, in a few multi-row statements for the whole batch.
        await em.transaction((sp) => this.writes.writeClaims(sp, claims, now));
        outcomes = claims.map(firedOutcome);
      } catch {
        // Something in the batch was refused: redo it schedule by schedule, so only that one fails.
        outcomes = [];
        for (const claim of claims) outcomes.push(await this.writes.writeClaimAlone(em, claim, now));
      }
      const fired = new Set(outcomes.filter((o) => o.status === 'fired').map((o) => o.scheduleId));
      const schedules = new Map(claimed.map((schedule) => [schedule.id, schedule]));
      handed = deliverable
        .filter((c) => leased.has(c.scheduleId) && fired.has(c.scheduleId))
        .map(({ scheduleId, fire, nextRunAt, done }) => ({
          run: fire!.run,
          schedule: {
            ...schedules.get(scheduleId)!,
            nextRunAt,
            lastRunAt: fire!.firedAt,
            fireCount: schedules.get(scheduleId)!.fireCount + 1,
            ...(done ? doneAs(done) : {}),
          },
          session: fire!.session,
          attemptsMade: 0,
        }));
      if (deliverable.some((c) => !leased.has(c.scheduleId) && fired.has(c.scheduleId))) await ready();
      return outcomes;
    }).catch((error: unknown) => {
      (reservation as HandOffReservation | null)?.cancel();
      throw error;
    });
    (reservation as HandOffReservation | null)?.settle(handed);
    return outcomes;
  }

  async nextDueAt(): Promise<Date | null> {
    // ORDER BY … LIMIT 1 on the partial schedules_due_idx: one index entry read, on both engines.
    const rows = await this.db.dataSource.query('SELECT next_run_at FROM schedules WHERE next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 1');
    const first = rows[0] as { next_run_at: Date | string } | undefined;
    return first ? this.db.dialect.timestampFromRaw(first.next_run_at) : null;
  }

  async dueBacklog(now: Date): Promise<DueBacklog> {
    const { dialect } = this.db;
    const rows = await this.db.dataSource.query(
      `SELECT count(*) AS n, min(next_run_at) AS oldest FROM schedules WHERE next_run_at <= ${dialect.placeholder(1)}`,
      [dialect.param(now)],
    );
    const { n, oldest } = rows[0] as { n: number | string; oldest: Date | string | null };
    return { count: Number(n), oldestNextRunAt: oldest == null ? null : dialect.timestampFromRaw(oldest) };
  }

  async timeOutRuns(now: Date, limit: number): Promise<number> {
    const { dispatch } = this.db;
    return this.db.transaction(async (em, ready) => {
      const due = await dispatch.dueTimeouts(em, now, limit);
      if (due.length === 0) return 0;
      // Schedules another caller holds are left to it (or to the next call).
      const held = await dispatch.holdSchedules(em, due.map((r) => r.scheduleId), true);
      const timeouts = new Map(held.map((s) => [s.id, s.runTimeoutSeconds]));
      const ending = await dispatch.stillTimedOut(em, due.filter((r) => timeouts.has(r.scheduleId)).map((r) => r.id), now);
      const endings = ending.map(
        (r): RunEnding => ({ runId: r.id, scheduleId: r.scheduleId, status: 'timed_out', error: timedOutError(timeouts.get(r.scheduleId)!), usage: null }),
      );
      if ((await dispatch.endRuns(em, endings, held, now)) > 0) await ready();
      return endings.length;
    });
  }

  async pruneHistory(limit: number): Promise<number> {
    if (limit <= 0) return 0;
    const { dispatch } = this.db;
    return this.db.transaction(async (em) => {
      const sessions = await dispatch.pruneSessions(em, limit);
      if (sessions >= limit) return sessions;
      const runIds = await dispatch.prunableRuns(em, limit - sessions);
      await dispatch.deleteWhereIn(em, 'dispatch_attempts', 'run_id', runIds);
      await dispatch.deleteOutbox(em, runIds);
      return sessions + (await dispatch.deleteWhereIn(em, 'runs', 'id', runIds));
    });
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    const rows = await this.db.schedules().find({ where: { enabled: true, next_run_at: IsNull() }, take: limit });
    return rows.map(toSchedule);
  }

  async setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null> {
    return this.db.scheduleWrite(scheduleId, async (em) => {
      const row = await this.db.holdSchedule(em, userId, scheduleId);
      if (!row || !row.enabled || row.next_run_at) return null;
      const nextRunAt = plan(toSchedule(row));
      if (!nextRunAt) return null;
      await this.db.schedules(em).update({ id: scheduleId, user_id: userId, next_run_at: IsNull() }, { next_run_at: nextRunAt });
      return nextRunAt;
    });
  }
}
