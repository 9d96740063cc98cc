import {
  type DataSource,
  type EntityManager,
  In,
  IsNull,
  type ObjectLiteral,
  type QueryDeepPartialEntity,
  type Repository,
  type SelectQueryBuilder,
} from 'typeorm';
import {
  type DispatchAttempt,
  isActiveRunStatus,
  isFinalRunStatus,
  type Run,
  type RunWithAttempts,
  type RuntimeRunStatus,
  runTransition,
} from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Session, SessionState } from '../../domain/session.js';
import type { KeysetPosition, Page, PageRequest } from '../../common/page.js';
import { DomainError, StorageUnavailable } from '../../common/domain-errors.js';
import type { ClaimedDelivery, DeliveryResult } from '../../domain/delivery.js';
import {
  type ClaimOutcome,
  decideFire,
  type DueFirePlan,
  type FireWrite,
  jsonTextBytes,
  keepNewestWithin,
  keepsMessageUntilReleased,
  NO_ACTIVITY,
  type ScheduleActivity,
  timeoutAfter,
} from '../../domain/fire.js';
import { DeliveryStorage, type RunReportOutcome } from '../ports/delivery.storage.js';
import { type DueBacklog, FiringStorage, type RecordFireOutcome } from '../ports/firing.storage.js';
import { HistoryStorage, type SessionJson } from '../ports/history.storage.js';
import { ScheduleStorage, type ScheduleUpdateOutcome, updatedSchedule, versionMatches } from '../ports/schedule.storage.js';
import { StorageLifecycle } from '../ports/storage-lifecycle.js';
import type { StorageBackend } from '../storage-backend.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';
import { BulkSql } from './bulk-sql.js';
import { dialectOfDriver, type SqlDialect } from './dialect.js';
import { DispatchSql, type RunEnding } from './dispatch-sql.js';
import { KeyedQueue } from './keyed-queue.js';
import {
  type RawSessionJsonRow,
  type RawSessionRow,
  SESSION_COLUMNS,
  type SessionQueries,
  sessionFromRaw,
  sessionJsonFromRaw,
  sessionQueries,
} from './session-queries.js';
import type { DispatchAttemptRow } from './entities/dispatch-attempt.entity.js';
import type { OutboxRow } from './entities/outbox.entity.js';
import type { RunRow } from './entities/run.entity.js';
import type { ScheduleRow } from './entities/schedule.entity.js';
import type { SessionRow } from './entities/session.entity.js';
import {
  toDispatchAttempt,
  toDispatchAttemptRow,
  toRun,
  toRunRow,
  toSchedule,
  toScheduleRow,
  toSession,
  toSessionRow,
} from './entities/row.mapper.js';

const NEWEST_FIRST = { created_at: 'DESC', id: 'DESC' } as const;

/** Selects nothing, but fails unless every table is there: the schema half of the readiness check. */
const SCHEMA_PROBE = ['schedules', 'sessions', 'runs', 'outbox', 'dispatch_attempts']
  .map((table, i) => `SELECT 1${i === 0 ? ' AS x' : ''} FROM ${table} WHERE 1 = 0`)
  .join(' UNION ALL ');

/**
 * A claimed schedule's plan once its fire has been decided (decideFire): what the claim writes.
 */
interface DecidedClaim {
  scheduleId: string;
  /** The fire to write (recorded or dispatched); null when the plan has none or it was skipped. */
  fire: FireWrite | null;
  /** The dispatched fire's outbox entry. */
  outbox: OutboxRow | null;
  /** Whether the fire waits on a stateful session, keeping its message until it is released (keepsMessageUntilReleased). */
  keepsMessage: boolean;
  /** Runs written without a fire: missed fire times, a skipped fire. */
  unfired: Run[];
  nextRunAt: Date | null;
}

/** SQLite (embedded) and PostgreSQL (production) storage, through one TypeORM DataSource. */
export class TypeOrmStorage
  implements StorageBackend, ScheduleStorage, HistoryStorage, FiringStorage, DeliveryStorage, StorageLifecycle
{
  readonly schedules: ScheduleStorage = this;
  readonly history: HistoryStorage = this;
  readonly firing: FiringStorage = this;
  readonly delivery: DeliveryStorage = this;
  readonly lifecycle: StorageLifecycle = this;
  private readonly dialect: SqlDialect;
  private readonly bulk: BulkSql;
  private readonly queries: SessionQueries;
  private readonly dispatch: DispatchSql;
  private writeQueue: Promise<unknown> = Promise.resolve();
  /**
   * The writes that hold one schedule's row (updates, fires, deletion) wait for each other here,
   * before they take a connection: however many requests pile up on one schedule (say, runs of a
   * stateful schedule whose session is large), they hold one connection of the pool, not all.
   */
  private readonly scheduleWrites = new KeyedQueue();

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: StorageOptions = DEFAULT_STORAGE_OPTIONS,
  ) {
    this.dialect = dialectOfDriver(dataSource.options.type);
    this.bulk = new BulkSql(this.dialect);
    this.queries = sessionQueries(this.dialect);
    this.dispatch = new DispatchSql(this.dialect, options);
    // Every port method, wrapped once: a database that is down, unreachable, overloaded or without
    // its schema surfaces as StorageUnavailable, so that nothing above storage knows about drivers.
    for (const name of PORT_METHODS) {
      const method = this[name] as unknown as (...args: unknown[]) => Promise<unknown>;
      Object.defineProperty(this, name, {
        value: (...args: unknown[]) => method.apply(this, args).catch((error: unknown) => Promise.reject(this.translated(error))),
      });
    }
  }

  async createSchedule(schedule: Schedule, maxPerUser = Infinity): Promise<boolean> {
    return this.transaction(async (em) => {
      if (Number.isFinite(maxPerUser)) {
        // Held to the end of the transaction: concurrent creates of one user count one after the other.
        if (this.dialect.lockUserSchedules) await em.query(this.dialect.lockUserSchedules, [schedule.userId]);
        if ((await this.schedulesRepo(em).countBy({ user_id: schedule.userId })) >= maxPerUser) return false;
      }
      await this.schedulesRepo(em).insert(writable(toScheduleRow(schedule)));
      return true;
    });
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const row = await this.schedulesRepo().findOneBy({ id: scheduleId, user_id: userId });
    return row ? toSchedule(row) : null;
  }

  async listSchedules(userId: string): Promise<Schedule[]> {
    const rows = await this.schedulesRepo().find({ where: { user_id: userId }, order: NEWEST_FIRST });
    return rows.map(toSchedule);
  }

  async updateSchedule(
    userId: string,
    scheduleId: string,
    change: (current: Schedule) => Schedule,
    expectedVersion?: number | readonly number[],
  ): Promise<ScheduleUpdateOutcome> {
    return this.scheduleWrite(scheduleId, async (em) => {
      const row = await this.holdSchedule(em, userId, scheduleId);
      if (!row) return { status: 'not-found' };
      const current = toSchedule(row);
      if (!versionMatches(current.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: current.version };
      const updated = updatedSchedule(current, change(structuredClone(current)));
      const { id, user_id, created_at, last_run_at, ...fields } = toScheduleRow(updated);
      // The version in the WHERE clause makes this a compare-and-set even where the row is not held.
      const result = await this.schedulesRepo(em).update({ id, user_id, version: current.version }, writable(fields));
      if ((result.affected ?? 0) !== 1) throw new Error(`Schedule ${scheduleId} changed while it was being updated`);
      return { status: 'updated', schedule: structuredClone(updated) };
    });
  }

  async setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null> {
    return this.scheduleWrite(scheduleId, async (em) => {
      const row = await this.holdSchedule(em, userId, scheduleId);
      if (!row || !row.enabled || row.next_run_at) return null;
      const nextRunAt = plan(toSchedule(row));
      if (!nextRunAt) return null;
      await this.schedulesRepo(em).update({ id: scheduleId, user_id: userId, next_run_at: IsNull() }, { next_run_at: nextRunAt });
      return nextRunAt;
    });
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.scheduleWrite(scheduleId, async (em) => {
      const deleted = await this.schedulesRepo(em).delete({ id: scheduleId, user_id: userId });
      if ((deleted.affected ?? 0) === 0) return false;
      await this.sessionsRepo(em).delete({ user_id: userId, source_schedule_id: scheduleId });
      const p = this.dialect.placeholder;
      await em.query(`DELETE FROM dispatch_attempts WHERE run_id IN (SELECT id FROM runs WHERE user_id = ${p(1)} AND schedule_id = ${p(2)})`, [
        userId,
        scheduleId,
      ]);
      await this.outboxRepo(em).delete({ schedule_id: scheduleId });
      // The user too: that is how the runs are indexed (a schedule's runs are all its user's).
      await this.runsRepo(em).delete({ user_id: userId, schedule_id: scheduleId });
      return true;
    });
  }

  async hasSchedule(userId: string, scheduleId: string): Promise<boolean> {
    const rows = await this.dataSource.query(this.queries.scheduleOwned, [userId, scheduleId]);
    return rows.length > 0;
  }

  async pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson>> {
    const toJson = (row: RawSessionJsonRow) => sessionJsonFromRaw(this.dialect, row);
    if (!page) {
      const sessions = Array.from((await this.dataSource.query(this.queries.all, [userId, scheduleId])) as RawSessionJsonRow[], toJson);
      return { items: sessions, total: sessions.length, next: null };
    }
    return this.pageOfSessions(userId, scheduleId, page, toJson);
  }

  /** One page of a schedule's sessions, newest first, and their count: the rows read as `read` says. */
  private async pageOfSessions<Row, T extends { id: string; createdAt: Date }>(
    userId: string,
    scheduleId: string,
    { after, limit }: PageRequest,
    read: (row: Row) => T,
  ): Promise<Page<T>> {
    const [rows, counted] = await Promise.all([
      after
        ? this.dataSource.query(this.queries.nextPage, [userId, scheduleId, this.dialect.param(after.at), after.id, limit + 1])
        : this.dataSource.query(this.queries.firstPage, [userId, scheduleId, limit + 1]),
      this.dataSource.query(this.queries.count, [userId, scheduleId]),
    ]);
    // Array.from, not rows.map: the driver's array may come from a native addon's realm (Jest's
    // vm-per-file tests see that), and a page is a plain array of this realm either way.
    return pageFrom(Array.from(rows as Row[], read), Number(counted[0].n), limit, (s) => s.createdAt);
  }

  async recordFire(fire: FireWrite): Promise<RecordFireOutcome> {
    const { userId, sourceScheduleId } = fire.session;
    if (!sourceScheduleId) return { status: 'not-found' };
    return this.scheduleWrite(sourceScheduleId, async (em) => {
      // Locking the schedule row serialises the fires of one schedule (and races with its deletion),
      // and the endings of its runs, which release a waiting run (see endRuns).
      const query = this.schedulesRepo(em)
        .createQueryBuilder('s')
        .select('s.id')
        .where('s.id = :id AND s.user_id = :userId', { id: sourceScheduleId, userId });
      const schedule = await (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
      if (!schedule) return { status: 'not-found' };
      const activity = fire.dispatch ? await this.dispatch.activity(em, sourceScheduleId, fire.firedAt) : NO_ACTIVITY;
      const decided = decideFire(fire, activity);
      if (decided.kind === 'skip') return { status: 'busy', blockingRunId: decided.blockingRunId };
      const written = decided.fire;
      // A waiting stateful fire leaves an existing session as it is: its message waits with its outbox entry.
      const keepsMessage = keepsMessageUntilReleased(decided);
      const stored = !written.stateful
        ? null
        : keepsMessage
          ? await this.readSession(em, written.session.id)
          : await this.appendMessageAndRead(em, written);
      if (!stored) await this.bulk.insert(em, 'sessions', [toSessionRow(written.session)]);
      await this.bulk.insert(em, 'runs', [toRunRow(written.run)]);
      if (decided.kind === 'dispatch') {
        const kept = keepsMessage && stored ? written.message : null;
        await this.bulk.insert(em, 'outbox', [outboxRow(written, decided.outboxAvailableAt, kept)]);
      }
      await this.schedulesRepo(em).update({ id: written.run.scheduleId }, { last_run_at: written.firedAt });
      return { status: 'fired', session: stored ?? structuredClone(written.session), run: structuredClone(written.run) };
    });
  }

  async claimDueSchedules(
    now: Date,
    limit: number,
    plan: (schedule: Schedule) => DueFirePlan,
  ): Promise<ClaimOutcome[]> {
    return this.transaction(async (em) => {
      const query = this.schedulesRepo(em)
        .createQueryBuilder('s')
        .where('s.next_run_at <= :now', { now })
        .orderBy('s.next_run_at', 'ASC')
        .addOrderBy('s.id', 'ASC')
        .limit(limit);
      // SKIP LOCKED: replicas claiming at the same moment take disjoint schedules instead of queueing.
      // (SQLite has one writer at a time and this process queues its own transactions.)
      const claimed =
        this.dialect.rowLocks
          ? await query.setLock('pessimistic_write').setOnLocked('skip_locked').getMany()
          : await query.getMany();
      const plans = claimed.map((row) => plan(toSchedule(row)));
      // The overlap policy of every dispatched fire, against its schedule's runs: one read for the batch.
      const dispatched = plans.flatMap((p) => (p.fire?.dispatch ? [{ scheduleId: p.scheduleId, firedAt: p.fire.firedAt }] : []));
      const activities = dispatched.length > 0 ? await this.dispatch.activities(em, dispatched) : new Map<string, ScheduleActivity>();
      const claims = plans.map((p) => decidedClaim(p, activities.get(p.scheduleId) ?? NO_ACTIVITY));
      try {
        // The common case: every plan writes, in a few multi-row statements for the whole batch.
        await em.transaction((sp) => this.writeClaims(sp, claims));
        return claims.map((c): ClaimOutcome => ({ scheduleId: c.scheduleId, status: 'fired' }));
      } catch {
        // Something in the batch was refused: redo it schedule by schedule, so only that one fails.
        const outcomes: ClaimOutcome[] = [];
        for (const claim of claims) outcomes.push(await this.writeClaimAlone(em, claim));
        return outcomes;
      }
    });
  }

  async listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]> {
    const rows = await this.runsRepo().find({
      where: { user_id: userId, schedule_id: scheduleId },
      order: { scheduled_for: 'DESC', id: 'DESC' },
    });
    return rows.map(toRun);
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const where = { user_id: userId, schedule_id: scheduleId };
    const query = this.runsRepo().createQueryBuilder('r').where(where);
    const [rows, total] = await Promise.all([
      keysetPage(query, 'r.scheduled_for', 'r.id', page).getMany(),
      this.runsRepo().countBy(where),
    ]);
    return pageFrom(rows.map(toRun), total, page.limit, (r) => r.scheduledFor);
  }

  async getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null> {
    const row = await this.runsRepo().findOneBy({ id: runId, user_id: userId, schedule_id: scheduleId });
    if (!row) return null;
    const attempts = await this.attemptsRepo().find({ where: { run_id: runId }, order: { at: 'ASC', id: 'ASC' } });
    return { run: toRun(row), attempts: attempts.map(toDispatchAttempt) };
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    return this.transaction(async (em) => {
      // Locked (SKIP LOCKED) until the lease is written: concurrent claimers take other entries.
      const due = await this.dispatch.dueOutbox(em, now, limit);
      if (due.length === 0) return [];
      const runs = new Map((await this.runsRepo(em).findBy({ id: In(due.map((d) => d.runId)) })).map((r) => [r.id, toRun(r)]));
      const scheduleIds = [...new Set([...runs.values()].map((r) => r.scheduleId))];
      const scheduleRows = scheduleIds.length > 0 ? await this.schedulesRepo(em).findBy({ id: In(scheduleIds) }) : [];
      const schedules = new Map(scheduleRows.map((s) => [s.id, toSchedule(s)]));
      const deliverable = due.filter((d) => {
        const run = runs.get(d.runId);
        return run !== undefined && isActiveRunStatus(run.status) && schedules.has(run.scheduleId);
      });
      const deliverableIds = new Set(deliverable.map((d) => d.runId));
      await this.dispatch.deleteOutbox(em, due.filter((d) => !deliverableIds.has(d.runId)).map((d) => d.runId));
      await this.dispatch.leaseOutbox(em, [...deliverableIds], leaseUntil);
      const sessionIds = [...new Set(deliverable.flatMap((d) => runs.get(d.runId)!.sessionId ?? []))];
      const sessionRows = sessionIds.length > 0 ? await this.sessionsRepo(em).findBy({ id: In(sessionIds) }) : [];
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
    await this.transaction(async (em) => {
      const runId = attempt.runId;
      const found = await this.runsRepo(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId } });
      if (!found) {
        await this.dispatch.deleteOutbox(em, [runId]);
        return;
      }
      await this.bulk.insert(em, 'dispatch_attempts', [toDispatchAttemptRow(attempt)]);
      switch (result.outcome) {
        case 'delivered':
          // A run the runtime has already moved on (reported running, or ended) keeps its status.
          await this.runsRepo(em).update({ id: runId, status: 'pending' }, { status: 'dispatched' });
          await this.dispatch.deleteOutbox(em, [runId]);
          return;
        case 'retry':
          await this.outboxRepo(em).update(
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
    return this.transaction(async (em) => {
      const found = await this.runsRepo(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId } });
      if (!found) return { status: 'not-found' };
      const held = await this.dispatch.holdSchedules(em, [found.schedule_id], false);
      // Re-read under the schedule's lock: the endings of its runs are serialised by it. (A schedule
      // that is gone took its runs with it.)
      const row = await this.runsRepo(em).findOneBy({ id: runId });
      if (!row || held.length === 0) return { status: 'not-found' };
      const run = toRun(row);
      const transition = runTransition(run.status, to);
      if (transition === 'noop') return { status: 'unchanged', run };
      if (transition === 'illegal') return { status: 'illegal', run };
      const reported: Run = { ...run, status: to, error: to === 'failed' ? error : null };
      if (isFinalRunStatus(to)) {
        await this.dispatch.endRuns(em, [{ runId, scheduleId: run.scheduleId, status: to, error: reported.error }], held, now);
        return { status: 'applied', run: { ...reported, finishedAt: now } };
      }
      // A run that was waiting has no timeout yet: it takes one now, so that it cannot stay active for ever.
      const timeoutAt = run.timeoutAt ?? timeoutAfter(now, held[0].runTimeoutSeconds);
      await this.runsRepo(em).update({ id: runId }, { status: to, error: null, timeout_at: timeoutAt });
      // The runtime has the run: it is not delivered again; a message it kept (it was waiting) goes to its session.
      await this.dispatch.appendKeptMessages(em, 'run_id', [runId], now);
      await this.dispatch.deleteOutbox(em, [runId]);
      return { status: 'applied', run: { ...reported, timeoutAt } };
    });
  }

  async timeOutRuns(now: Date, limit: number): Promise<number> {
    return this.transaction(async (em) => {
      const due = await this.dispatch.dueTimeouts(em, now, limit);
      if (due.length === 0) return 0;
      // Schedules another caller holds are left to it (or to the next call).
      const held = await this.dispatch.holdSchedules(em, due.map((r) => r.scheduleId), true);
      const timeouts = new Map(held.map((s) => [s.id, s.runTimeoutSeconds]));
      const ending = await this.dispatch.stillTimedOut(em, due.filter((r) => timeouts.has(r.scheduleId)).map((r) => r.id), now);
      const endings = ending.map(
        (r): RunEnding => ({ runId: r.id, scheduleId: r.scheduleId, status: 'timed_out', error: timedOutError(timeouts.get(r.scheduleId)!) }),
      );
      await this.dispatch.endRuns(em, endings, held, now);
      return endings.length;
    });
  }

  async putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null> {
    return this.transaction(async (em) => {
      const context = state.context.slice(-this.options.statefulSessionMaxMessages);
      const bounds = { maxMessages: this.options.statefulSessionMaxMessages, maxBytes: this.options.statefulSessionMaxBytes };
      keepNewestWithin(context, bounds, (message) => jsonTextBytes(JSON.stringify(message)));
      const kept = { ...state, context };
      const result = await this.sessionsRepo(em).update({ id: sessionId }, writable<SessionRow>({ state: kept, updated_at: now }));
      if ((result.affected ?? 0) === 0) return null;
      const row = await this.sessionsRepo(em).findOneBy({ id: sessionId });
      return row ? toSession(row) : null;
    });
  }

  async pruneHistory(limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.transaction(async (em) => {
      const sessions = await this.dispatch.pruneSessions(em, limit);
      if (sessions >= limit) return sessions;
      const runIds = await this.dispatch.prunableRuns(em, limit - sessions);
      await this.dispatch.deleteWhereIn(em, 'dispatch_attempts', 'run_id', runIds);
      await this.dispatch.deleteOutbox(em, runIds);
      return sessions + (await this.dispatch.deleteWhereIn(em, 'runs', 'id', runIds));
    });
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    const rows = await this.schedulesRepo().find({ where: { enabled: true, next_run_at: IsNull() }, take: limit });
    return rows.map(toSchedule);
  }

  async dueBacklog(now: Date): Promise<DueBacklog> {
    const rows = await this.dataSource.query(
      `SELECT count(*) AS n, min(next_run_at) AS oldest FROM schedules WHERE next_run_at <= ${this.dialect.placeholder(1)}`,
      [this.dialect.param(now)],
    );
    const { n, oldest } = rows[0] as { n: number | string; oldest: Date | string | null };
    return { count: Number(n), oldestNextRunAt: oldest == null ? null : this.dialect.timestampFromRaw(oldest) };
  }

  async nextDueAt(): Promise<Date | null> {
    // ORDER BY … LIMIT 1 on the partial schedules_due_idx: one index entry read, on both engines.
    const rows = await this.dataSource.query(
      'SELECT next_run_at FROM schedules WHERE next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 1',
    );
    const first = rows[0] as { next_run_at: Date | string } | undefined;
    return first ? this.dialect.timestampFromRaw(first.next_run_at) : null;
  }

  async ping(): Promise<void> {
    await this.dataSource.query(SCHEMA_PROBE);
    const table = this.dataSource.options.migrationsTableName ?? 'migrations';
    const applied = new Set(Array.from((await this.dataSource.query(`SELECT name FROM ${table}`)) as { name: string }[], (r) => r.name));
    const missing = this.dataSource.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => !applied.has(name));
    if (missing.length > 0) {
      throw new StorageUnavailable(`The database schema is incomplete: ${missing.length} migration(s) not applied.`);
    }
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /**
   * Writes the decided plans of claimed schedules with a handful of statements, whatever their
   * number: their fires and outbox entries, their unfired runs, and the schedules' advance as one UPDATE.
   */
  private async writeClaims(em: EntityManager, claims: DecidedClaim[]): Promise<void> {
    await this.bulk.insert(em, 'outbox', await this.writeFires(em, claims));
    await this.bulk.insert(em, 'runs', claims.flatMap((c) => c.unfired).map(toRunRow));
    await this.bulk.advanceSchedules(
      em,
      claims.map((c) => ({ id: c.scheduleId, nextRunAt: c.nextRunAt, lastRunAt: c.fire?.firedAt ?? null })),
    );
  }

  /**
   * Ends the run if it is still active, in a transaction that then holds its schedule: with
   * `status` and `error`, its outbox entry deleted, the schedule's waiting run released. A run
   * that has ended already keeps its status; its outbox entry goes all the same.
   */
  private async endRunIfActive(em: EntityManager, scheduleId: string, runId: string, status: Run['status'], error: string | null, now: Date): Promise<void> {
    const held = await this.dispatch.holdSchedules(em, [scheduleId], false);
    const row = await this.runsRepo(em).findOne({ select: { id: true, status: true }, where: { id: runId } });
    if (row && isActiveRunStatus(row.status as Run['status'])) {
      await this.dispatch.endRuns(em, [{ runId, scheduleId, status, error }], held, now);
    } else {
      await this.dispatch.deleteOutbox(em, [runId]);
    }
  }

  /**
   * Writes the sessions and runs of the claims' fires as multi-row inserts. Stateful fires whose
   * session exists append to it instead, row by row (a schedule has at most one fire in a batch),
   * except those that wait: their message goes with their outbox entry. Returns the claims'
   * outbox entries, to insert.
   */
  private async writeFires(em: EntityManager, claims: DecidedClaim[]): Promise<OutboxRow[]> {
    const inserts: SessionRow[] = [];
    const entries: OutboxRow[] = [];
    const fires: FireWrite[] = [];
    for (const { fire, outbox, keepsMessage } of claims) {
      if (!fire) continue;
      fires.push(fire);
      let kept = false;
      if (!fire.stateful) inserts.push(toSessionRow(fire.session));
      else if (keepsMessage) kept = (await this.readSession(em, fire.session.id)) !== null;
      else if (!(await this.appendMessage(em, fire))) inserts.push(toSessionRow(fire.session));
      if (keepsMessage && !kept) inserts.push(toSessionRow(fire.session));
      if (outbox) entries.push({ ...outbox, pending_message: kept ? JSON.stringify(fire.message) : null });
    }
    await this.bulk.insert(em, 'sessions', inserts);
    await this.bulk.insert(em, 'runs', fires.map((f) => toRunRow(f.run)));
    return entries;
  }

  /** The session with this id as stored, read in the transaction; null when there is none. */
  private async readSession(em: EntityManager, sessionId: string): Promise<Session | null> {
    const rows = Array.from((await em.query(this.queries.byId, [sessionId])) as RawSessionRow[]);
    return rows.length > 0 ? sessionFromRaw(this.dialect, rows[0]) : null;
  }

  /**
   * Appends a stateful fire's message to its session in one statement (the document never leaves
   * the database; the bound applies); false, writing nothing, when the session does not exist yet.
   */
  private async appendMessage(em: EntityManager, fire: FireWrite): Promise<boolean> {
    const result = await em.queryRunner!.query(this.dialect.appendContextMessage(), this.appendParams(fire), true);
    return (result.affected ?? 0) > 0;
  }

  /**
   * appendMessage, returning the session as stored afterwards (recordFire's answer): from the
   * UPDATE itself where the engine returns its rows, else read in the same transaction.
   */
  private async appendMessageAndRead(em: EntityManager, fire: FireWrite): Promise<Session | null> {
    let rows: RawSessionRow[];
    if (this.dialect.updateReturnsRows) {
      const result = await em.queryRunner!.query(this.dialect.appendContextMessage(SESSION_COLUMNS), this.appendParams(fire), true);
      rows = Array.from(result.records as RawSessionRow[]);
    } else {
      if (!(await this.appendMessage(em, fire))) return null;
      return this.readSession(em, fire.session.id);
    }
    return rows.length > 0 ? sessionFromRaw(this.dialect, rows[0]) : null;
  }

  private appendParams(fire: FireWrite): unknown[] {
    return [
      JSON.stringify(fire.message),
      this.options.statefulSessionMaxMessages,
      this.dialect.param(fire.firedAt),
      fire.session.id,
      this.options.statefulSessionMaxBytes,
    ];
  }

  /** A driver error that means the database is unavailable, as StorageUnavailable (keeping it as the cause); any other as it is. */
  private translated(error: unknown): unknown {
    if (error instanceof DomainError || !this.dialect.isUnavailable(error)) return error;
    return new StorageUnavailable(undefined, { cause: error });
  }

  /** One claim in its own savepoint; if its fire is refused, a failed run takes its place. */
  private async writeClaimAlone(em: EntityManager, claim: DecidedClaim): Promise<ClaimOutcome> {
    try {
      await em.transaction((sp) => this.writeClaims(sp, [claim]));
      return { scheduleId: claim.scheduleId, status: 'fired' };
    } catch (error) {
      const message = (error as Error).message;
      await this.recordFailedClaim(em, claim, message);
      return { scheduleId: claim.scheduleId, status: 'failed', error: message };
    }
  }

  /** A claim whose fire could not be written: record the failure and still move on to the next fire time. */
  private async recordFailedClaim(em: EntityManager, claim: DecidedClaim, error: string): Promise<void> {
    const failed: Run[] = claim.fire
      ? [{ ...claim.fire.run, sessionId: null, status: 'failed', error, finishedAt: null, timeoutAt: null }]
      : [];
    try {
      await em.transaction((sp) =>
        this.writeClaims(sp, [{ ...claim, fire: null, outbox: null, keepsMessage: false, unfired: [...failed, ...claim.unfired] }]),
      );
    } catch {
      // Even the failure cannot be recorded (say, the run already exists): at least do not retry it every tick.
      await this.schedulesRepo(em).update({ id: claim.scheduleId }, { next_run_at: claim.nextRunAt });
    }
  }

  /**
   * Reads the user's schedule row in an open transaction, holding it until the transaction ends:
   * on PostgreSQL a row lock (FOR UPDATE: updates and fires of it wait, claims skip it); on SQLite
   * this process's transactions queue anyway (see transaction()).
   */
  private async holdSchedule(em: EntityManager, userId: string, scheduleId: string): Promise<ScheduleRow | null> {
    const query = this.schedulesRepo(em).createQueryBuilder('s').where('s.id = :id AND s.user_id = :userId', { id: scheduleId, userId });
    return (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
  }

  private schedulesRepo(em: EntityManager = this.dataSource.manager): Repository<ScheduleRow> {
    return em.getRepository<ScheduleRow>('ScheduleRow');
  }

  private sessionsRepo(em: EntityManager = this.dataSource.manager): Repository<SessionRow> {
    return em.getRepository<SessionRow>('SessionRow');
  }

  private runsRepo(em: EntityManager = this.dataSource.manager): Repository<RunRow> {
    return em.getRepository<RunRow>('RunRow');
  }

  private outboxRepo(em: EntityManager = this.dataSource.manager): Repository<OutboxRow> {
    return em.getRepository<OutboxRow>('OutboxRow');
  }

  private attemptsRepo(em: EntityManager = this.dataSource.manager): Repository<DispatchAttemptRow> {
    return em.getRepository<DispatchAttemptRow>('DispatchAttemptRow');
  }

  /** Runs `work` in a transaction, after every write of this schedule that came before it in this process. */
  private scheduleWrite<T>(scheduleId: string, work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.scheduleWrites.run(scheduleId, () => this.transaction(work));
  }

  /**
   * Runs `work` in a transaction. TypeORM's SQLite driver has a single connection, on which
   * concurrent transactions would nest as savepoints of each other, so on SQLite they queue.
   */
  private transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect.rowLocks) return this.dataSource.transaction(work);
    const run = this.writeQueue.then(() => this.dataSource.transaction(work));
    this.writeQueue = run.catch(() => undefined);
    return run;
  }
}

/** A claimed schedule's plan, its fire decided by the overlap policy against the schedule's activity. */
function decidedClaim(plan: DueFirePlan, activity: ScheduleActivity): DecidedClaim {
  const claim = { scheduleId: plan.scheduleId, nextRunAt: plan.nextRunAt, unfired: plan.unfired, fire: null, outbox: null, keepsMessage: false };
  if (!plan.fire) return claim;
  const decided = decideFire(plan.fire, activity);
  switch (decided.kind) {
    case 'record':
      return { ...claim, fire: decided.fire };
    case 'dispatch':
      return {
        ...claim,
        fire: decided.fire,
        outbox: outboxRow(decided.fire, decided.outboxAvailableAt, null),
        keepsMessage: keepsMessageUntilReleased(decided),
      };
    case 'skip':
      return { ...claim, unfired: [...plan.unfired, decided.run] };
  }
}

/**
 * The outbox entry of a dispatched fire; `availableAt` null holds it (its run waits), with the
 * message a waiting stateful fire keeps until it is released, if any.
 */
function outboxRow(fire: FireWrite, availableAt: Date | null, kept: FireWrite['message'] | null): OutboxRow {
  return {
    run_id: fire.run.id,
    schedule_id: fire.run.scheduleId,
    available_at: availableAt,
    attempts: 0,
    lease_until: null,
    pending_message: kept && JSON.stringify(kept),
  };
}

/** The error of a run that timed out. */
function timedOutError(runTimeoutSeconds: number): string {
  return `timed out: no final status within run_timeout_seconds (${runTimeoutSeconds} s)`;
}

/** Newest first from after `page.after`, one row more than asked for: it tells whether there is a next page. */
function keysetPage<Q extends SelectQueryBuilder<ObjectLiteral>>(query: Q, at: string, id: string, page: PageRequest): Q {
  if (page.after) query.andWhere(`(${at}, ${id}) < (:afterAt, :afterId)`, { afterAt: page.after.at, afterId: page.after.id });
  return query.orderBy(at, 'DESC').addOrderBy(id, 'DESC').limit(page.limit + 1);
}

function pageFrom<T extends { id: string }>(rows: T[], total: number, limit: number, at: (item: T) => Date): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const next: KeysetPosition | null = rows.length > limit ? { at: at(last), id: last.id } : null;
  return { items, total, next };
}

/** TypeORM's deep-partial type cannot see through free-form JSON columns; the rows are exact. */
function writable<T>(row: Partial<T>): QueryDeepPartialEntity<T> {
  return row as QueryDeepPartialEntity<T>;
}

type PortMethod = keyof (ScheduleStorage & HistoryStorage & FiringStorage & DeliveryStorage & StorageLifecycle);

/** Every method of the ports, by name, to wrap them all at once (the compiler keeps the list complete). */
const PORT_METHODS = Object.keys({
  createSchedule: true,
  getSchedule: true,
  hasSchedule: true,
  listSchedules: true,
  updateSchedule: true,
  deleteSchedule: true,
  pageSessionsJson: true,
  listRunsBySchedule: true,
  pageRunsBySchedule: true,
  getRun: true,
  recordFire: true,
  claimDueSchedules: true,
  nextDueAt: true,
  dueBacklog: true,
  timeOutRuns: true,
  pruneHistory: true,
  listEnabledSchedulesWithoutNextRun: true,
  setMissingNextRun: true,
  claimDeliveries: true,
  recordDeliveryAttempt: true,
  reportRunStatus: true,
  putSessionState: true,
  ping: true,
  close: true,
} satisfies Record<PortMethod, true>) as PortMethod[];
