import { type DataSource, type EntityManager, IsNull, type ObjectLiteral, type QueryDeepPartialEntity, type Repository, type SelectQueryBuilder } from 'typeorm';
import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Session } from '../../domain/session.js';
import type { KeysetPosition, Page, PageRequest } from '../../common/page.js';
import { DomainError, StorageUnavailable } from '../../common/domain-errors.js';
import type { ClaimOutcome, DueFirePlan, FireWrite } from '../../domain/fire.js';
import {
  DEFAULT_STORAGE_OPTIONS,
  type DueBacklog,
  type ScheduleUpdateOutcome,
  STORAGE_METHODS,
  StorageBase,
  type StorageOptions,
  updatedSchedule,
  versionMatches,
} from '../storage.base.js';
import { BulkSql } from './bulk-sql.js';
import { dialectOfDriver, type SqlDialect } from './dialect.js';
import { KeyedQueue } from './keyed-queue.js';
import { type RawSessionRow, SESSION_COLUMNS, type SessionQueries, sessionFromRaw, sessionQueries } from './session-queries.js';
import type { RunRow } from './entities/run.entity.js';
import type { ScheduleRow } from './entities/schedule.entity.js';
import type { SessionRow } from './entities/session.entity.js';
import { toRun, toRunRow, toSchedule, toScheduleRow, toSession, toSessionRow } from './entities/row.mapper.js';

const NEWEST_FIRST = { created_at: 'DESC', id: 'DESC' } as const;

/** Selects nothing, but fails unless every table is there: the schema half of the readiness check. */
const SCHEMA_PROBE =
  'SELECT 1 AS x FROM schedules WHERE 1 = 0 UNION ALL SELECT 1 FROM sessions WHERE 1 = 0 UNION ALL SELECT 1 FROM runs WHERE 1 = 0';

/** SQLite (embedded) and PostgreSQL (production) storage, through one TypeORM DataSource. */
export class TypeOrmStorage extends StorageBase {
  private readonly dialect: SqlDialect;
  private readonly bulk: BulkSql;
  private readonly queries: SessionQueries;
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
    super();
    this.dialect = dialectOfDriver(dataSource.options.type);
    this.bulk = new BulkSql(this.dialect);
    this.queries = sessionQueries(this.dialect);
    // Every port method, wrapped once: a database that is down, unreachable, overloaded or without
    // its schema surfaces as StorageUnavailable, so that nothing above storage knows about drivers.
    for (const name of STORAGE_METHODS) {
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
        if ((await this.schedules(em).countBy({ user_id: schedule.userId })) >= maxPerUser) return false;
      }
      await this.schedules(em).insert(writable(toScheduleRow(schedule)));
      return true;
    });
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const row = await this.schedules().findOneBy({ id: scheduleId, user_id: userId });
    return row ? toSchedule(row) : null;
  }

  async listSchedules(userId: string): Promise<Schedule[]> {
    const rows = await this.schedules().find({ where: { user_id: userId }, order: NEWEST_FIRST });
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
      const result = await this.schedules(em).update({ id, user_id, version: current.version }, writable(fields));
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
      await this.schedules(em).update({ id: scheduleId, user_id: userId, next_run_at: IsNull() }, { next_run_at: nextRunAt });
      return nextRunAt;
    });
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.scheduleWrite(scheduleId, async (em) => {
      const deleted = await this.schedules(em).delete({ id: scheduleId, user_id: userId });
      if ((deleted.affected ?? 0) === 0) return false;
      await this.sessions(em).delete({ user_id: userId, source_schedule_id: scheduleId });
      await this.runs(em).delete({ schedule_id: scheduleId });
      return true;
    });
  }

  async getSession(userId: string, sessionId: string): Promise<Session | null> {
    const row = await this.sessions().findOneBy({ id: sessionId, user_id: userId });
    return row ? toSession(row) : null;
  }

  async listSessionsBySchedule(userId: string, scheduleId: string): Promise<Session[]> {
    const rows = await this.sessions().find({
      where: { user_id: userId, source_schedule_id: scheduleId },
      order: NEWEST_FIRST,
    });
    return rows.map(toSession);
  }

  async hasSchedule(userId: string, scheduleId: string): Promise<boolean> {
    const rows = await this.dataSource.query(this.queries.scheduleOwned, [userId, scheduleId]);
    return rows.length > 0;
  }

  async pageSessionsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Session>> {
    const { after, limit } = page;
    const [rows, counted] = await Promise.all([
      after
        ? this.dataSource.query(this.queries.nextPage, [userId, scheduleId, this.dialect.param(after.at), after.id, limit + 1])
        : this.dataSource.query(this.queries.firstPage, [userId, scheduleId, limit + 1]),
      this.dataSource.query(this.queries.count, [userId, scheduleId]),
    ]);
    // Array.from, not rows.map: the driver's array may come from a native addon's realm (Jest's
    // vm-per-file tests see that), and a page is a plain array of this realm either way.
    const sessions = Array.from(rows as RawSessionRow[], (row) => sessionFromRaw(this.dialect, row));
    return pageFrom(sessions, Number(counted[0].n), limit, (s) => s.createdAt);
  }

  async recordFire(fire: FireWrite): Promise<Session | null> {
    const { userId, sourceScheduleId } = fire.session;
    if (!sourceScheduleId) return null;
    return this.scheduleWrite(sourceScheduleId, async (em) => {
      // Locking the schedule row serialises the fires of one schedule (and races with its deletion).
      const query = this.schedules(em)
        .createQueryBuilder('s')
        .select('s.id')
        .where('s.id = :id AND s.user_id = :userId', { id: sourceScheduleId, userId });
      const schedule = await (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
      if (!schedule) return null;
      const appended = fire.stateful ? await this.appendMessageAndRead(em, fire) : null;
      if (!appended) await this.bulk.insert(em, 'sessions', [toSessionRow(fire.session)]);
      await this.bulk.insert(em, 'runs', [toRunRow(fire.run)]);
      await this.schedules(em).update({ id: fire.run.scheduleId }, { last_run_at: fire.firedAt });
      return appended ?? structuredClone(fire.session);
    });
  }

  async claimDueSchedules(
    now: Date,
    limit: number,
    plan: (schedule: Schedule) => DueFirePlan,
  ): Promise<ClaimOutcome[]> {
    return this.transaction(async (em) => {
      const query = this.schedules(em)
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
      try {
        // The common case: every plan writes, in a few multi-row statements for the whole batch.
        await em.transaction((sp) => this.writeClaims(sp, plans));
        return plans.map((p): ClaimOutcome => ({ scheduleId: p.scheduleId, status: 'fired' }));
      } catch {
        // Something in the batch was refused: redo it schedule by schedule, so only that one fails.
        const outcomes: ClaimOutcome[] = [];
        for (const decided of plans) outcomes.push(await this.writeClaimAlone(em, decided));
        return outcomes;
      }
    });
  }

  async listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]> {
    const rows = await this.runs().find({
      where: { user_id: userId, schedule_id: scheduleId },
      order: { scheduled_for: 'DESC', id: 'DESC' },
    });
    return rows.map(toRun);
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const where = { user_id: userId, schedule_id: scheduleId };
    const query = this.runs().createQueryBuilder('r').where(where);
    const [rows, total] = await Promise.all([
      keysetPage(query, 'r.scheduled_for', 'r.id', page).getMany(),
      this.runs().countBy(where),
    ]);
    return pageFrom(rows.map(toRun), total, page.limit, (r) => r.scheduledFor);
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    const rows = await this.schedules().find({ where: { enabled: true, next_run_at: IsNull() }, take: limit });
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
   * Writes the plans of claimed schedules with a handful of statements, whatever their number:
   * their fires, their unfired runs, and the schedules' advance as one UPDATE.
   */
  private async writeClaims(em: EntityManager, plans: DueFirePlan[]): Promise<void> {
    await this.writeFires(em, plans.flatMap((p) => (p.fire ? [p.fire] : [])));
    await this.bulk.insert(em, 'runs', plans.flatMap((p) => p.unfired).map(toRunRow));
    await this.bulk.advanceSchedules(
      em,
      plans.map((p) => ({ id: p.scheduleId, nextRunAt: p.nextRunAt, lastRunAt: p.fire?.firedAt ?? null })),
    );
  }

  /**
   * Writes the sessions and runs of fires as multi-row inserts. Stateful fires whose session
   * exists append to it instead, row by row (a schedule has at most one fire in a batch).
   */
  private async writeFires(em: EntityManager, fires: FireWrite[]): Promise<void> {
    const inserts: SessionRow[] = [];
    for (const fire of fires) {
      if (!fire.stateful || !(await this.appendMessage(em, fire))) inserts.push(toSessionRow(fire.session));
    }
    await this.bulk.insert(em, 'sessions', inserts);
    await this.bulk.insert(em, 'runs', fires.map((f) => toRunRow(f.run)));
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
      rows = Array.from((await em.query(this.queries.byId, [fire.session.id])) as RawSessionRow[]);
    }
    return rows.length > 0 ? sessionFromRaw(this.dialect, rows[0]) : null;
  }

  private appendParams(fire: FireWrite): unknown[] {
    return [JSON.stringify(fire.message), this.options.statefulSessionMaxMessages, this.dialect.param(fire.firedAt), fire.session.id];
  }

  /** A driver error that means the database is unavailable, as StorageUnavailable (keeping it as the cause); any other as it is. */
  private translated(error: unknown): unknown {
    if (error instanceof DomainError || !this.dialect.isUnavailable(error)) return error;
    return new StorageUnavailable(undefined, { cause: error });
  }

  /** One claim in its own savepoint; if its fire is refused, a failed run takes its place. */
  private async writeClaimAlone(em: EntityManager, decided: DueFirePlan): Promise<ClaimOutcome> {
    try {
      await em.transaction((sp) => this.writeClaims(sp, [decided]));
      return { scheduleId: decided.scheduleId, status: 'fired' };
    } catch (error) {
      const message = (error as Error).message;
      await this.recordFailedClaim(em, decided, message);
      return { scheduleId: decided.scheduleId, status: 'failed', error: message };
    }
  }

  /** A claim whose fire could not be written: record the failure and still move on to the next fire time. */
  private async recordFailedClaim(em: EntityManager, decided: DueFirePlan, error: string): Promise<void> {
    const failed: Run[] = decided.fire ? [{ ...decided.fire.run, sessionId: null, status: 'failed', error }] : [];
    try {
      await em.transaction((sp) => this.writeClaims(sp, [{ ...decided, fire: null, unfired: [...failed, ...decided.unfired] }]));
    } catch {
      // Even the failure cannot be recorded (say, the run already exists): at least do not retry it every tick.
      await this.schedules(em).update({ id: decided.scheduleId }, { next_run_at: decided.nextRunAt });
    }
  }

  /**
   * Reads the user's schedule row in an open transaction, holding it until the transaction ends:
   * on PostgreSQL a row lock (FOR UPDATE: updates and fires of it wait, claims skip it); on SQLite
   * this process's transactions queue anyway (see transaction()).
   */
  private async holdSchedule(em: EntityManager, userId: string, scheduleId: string): Promise<ScheduleRow | null> {
    const query = this.schedules(em).createQueryBuilder('s').where('s.id = :id AND s.user_id = :userId', { id: scheduleId, userId });
    return (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
  }

  private schedules(em: EntityManager = this.dataSource.manager): Repository<ScheduleRow> {
    return em.getRepository<ScheduleRow>('ScheduleRow');
  }

  private sessions(em: EntityManager = this.dataSource.manager): Repository<SessionRow> {
    return em.getRepository<SessionRow>('SessionRow');
  }

  private runs(em: EntityManager = this.dataSource.manager): Repository<RunRow> {
    return em.getRepository<RunRow>('RunRow');
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
