import { IsNull } from 'typeorm';
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
import type { Schedule } from '../../domain/schedule.js';
import { type DueBacklog, FiringStorage, type RecordFireOutcome } from '../ports/firing.storage.js';
import type { RunEnding } from './dispatch-sql.js';
import { toRunRow, toSchedule, toSessionRow } from './entities/row.mapper.js';
import { decidedClaim, FireWrites, outboxRow } from './fire-writes.js';
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
    return this.db.scheduleWrite(sourceScheduleId, async (em) => {
      // Locking the schedule row serialises the fires of one schedule (and races with its deletion),
      // and the endings of its runs, which release a waiting run (see DispatchSql.endRuns).
      const query = this.db
        .schedules(em)
        .createQueryBuilder('s')
        .select('s.id')
        .where('s.id = :id AND s.user_id = :userId', { id: sourceScheduleId, userId });
      const schedule = await (this.db.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
      if (!schedule) return { status: 'not-found' };
      const activity = fire.dispatch ? await this.db.dispatch.activity(em, sourceScheduleId, fire.firedAt) : NO_ACTIVITY;
      const decided = decideFire(fire, activity);
      if (decided.kind === 'skip') return { status: 'busy', blockingRunId: decided.blockingRunId };
      const written = decided.fire;
      // A waiting stateful fire leaves an existing session as it is: its message waits with its outbox entry.
      const keepsMessage = keepsMessageUntilReleased(decided);
      const stored = !written.stateful
        ? null
        : keepsMessage
          ? await this.writes.readSession(em, written.session.id)
          : await this.writes.appendMessageAndRead(em, written);
      if (!stored) await this.db.bulk.insert(em, 'sessions', [toSessionRow(written.session)]);
      await this.db.bulk.insert(em, 'runs', [toRunRow(written.run)]);
      if (decided.kind === 'dispatch') {
        const kept = keepsMessage && stored ? written.message : null;
        await this.db.bulk.insert(em, 'outbox', [outboxRow(written, decided.outboxAvailableAt, kept)]);
      }
      await this.db.schedules(em).update({ id: written.run.scheduleId }, { last_run_at: written.firedAt });
      return { status: 'fired', session: stored ?? structuredClone(written.session), run: structuredClone(written.run) };
    });
  }

  async claimDueSchedules(now: Date, limit: number, plan: (schedule: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    return this.db.transaction(async (em) => {
      const query = this.db
        .schedules(em)
        .createQueryBuilder('s')
        .where('s.next_run_at <= :now', { now })
        .orderBy('s.next_run_at', 'ASC')
        .addOrderBy('s.id', 'ASC')
        .limit(limit);
      // SKIP LOCKED: replicas claiming at the same moment take disjoint schedules instead of queueing.
      // (SQLite has one writer at a time and this process queues its own transactions.)
      const claimed = this.db.dialect.rowLocks
        ? await query.setLock('pessimistic_write').setOnLocked('skip_locked').getMany()
        : await query.getMany();
      const plans = claimed.map((row) => plan(toSchedule(row)));
      // The overlap policy of every dispatched fire, against its schedule's runs: one read for the batch.
      const dispatched = plans.flatMap((p) => (p.fire?.dispatch ? [{ scheduleId: p.scheduleId, firedAt: p.fire.firedAt }] : []));
      const activities = dispatched.length > 0 ? await this.db.dispatch.activities(em, dispatched) : new Map<string, ScheduleActivity>();
      const claims = plans.map((p) => decidedClaim(p, activities.get(p.scheduleId) ?? NO_ACTIVITY));
      try {
        // The common case: every plan writes, in a few multi-row statements for the whole batch.
        await em.transaction((sp) => this.writes.writeClaims(sp, claims));
        return claims.map((c): ClaimOutcome => ({ scheduleId: c.scheduleId, status: 'fired' }));
      } catch {
        // Something in the batch was refused: redo it schedule by schedule, so only that one fails.
        const outcomes: ClaimOutcome[] = [];
        for (const claim of claims) outcomes.push(await this.writes.writeClaimAlone(em, claim));
        return outcomes;
      }
    });
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
    return this.db.transaction(async (em) => {
      const due = await dispatch.dueTimeouts(em, now, limit);
      if (due.length === 0) return 0;
      // Schedules another caller holds are left to it (or to the next call).
      const held = await dispatch.holdSchedules(em, due.map((r) => r.scheduleId), true);
      const timeouts = new Map(held.map((s) => [s.id, s.runTimeoutSeconds]));
      const ending = await dispatch.stillTimedOut(em, due.filter((r) => timeouts.has(r.scheduleId)).map((r) => r.id), now);
      const endings = ending.map(
        (r): RunEnding => ({ runId: r.id, scheduleId: r.scheduleId, status: 'timed_out', error: timedOutError(timeouts.get(r.scheduleId)!) }),
      );
      await dispatch.endRuns(em, endings, held, now);
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
