import { type DataSource, type EntityManager, In, IsNull, type ObjectLiteral, type QueryDeepPartialEntity, type Repository, type SelectQueryBuilder } from 'typeorm';
import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Session } from '../../domain/session.js';
import type { KeysetPosition, Page, PageRequest } from '../../common/page.js';
import { appendFireMessage, type ClaimOutcome, type DueFirePlan, type FireWrite } from '../../domain/fire.js';
import { type ScheduleUpdateOutcome, StorageBase, versionMatches } from '../storage.base.js';
import { BulkSql } from './bulk-sql.js';
import { dialectNamed, type SqlDialect } from './dialect.js';
import { type RawSessionRow, type SessionQueries, sessionFromRaw, sessionQueries } from './session-queries.js';
import type { RunRow } from './entities/run.entity.js';
import type { ScheduleRow } from './entities/schedule.entity.js';
import type { SessionRow } from './entities/session.entity.js';
import { toRun, toRunRow, toSchedule, toScheduleRow, toSession, toSessionRow } from './entities/row.mapper.js';

const NEWEST_FIRST = { created_at: 'DESC', id: 'DESC' } as const;

/** SQLite (embedded) and PostgreSQL (production) storage, through one TypeORM DataSource. */
export class TypeOrmStorage extends StorageBase {
  private readonly dialect: SqlDialect;
  private readonly bulk: BulkSql;
  private readonly queries: SessionQueries;
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    super();
    this.dialect = dialectNamed(dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite');
    this.bulk = new BulkSql(this.dialect);
    this.queries = sessionQueries(this.dialect);
  }

  async createSchedule(schedule: Schedule): Promise<void> {
    await this.transaction((em) => this.schedules(em).insert(writable(toScheduleRow(schedule))));
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
    return this.transaction(async (em) => {
      const row = await this.holdSchedule(em, userId, scheduleId);
      if (!row) return { status: 'not-found' };
      const current = toSchedule(row);
      if (!versionMatches(current.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: current.version };
      const updated: Schedule = {
        ...change(structuredClone(current)),
        id: current.id,
        userId: current.userId,
        createdAt: current.createdAt,
        lastRunAt: current.lastRunAt,
        version: current.version + 1,
      };
      const { id, user_id, created_at, last_run_at, ...fields } = toScheduleRow(updated);
      // The version in the WHERE clause makes this a compare-and-set even where the row is not held.
      const result = await this.schedules(em).update({ id, user_id, version: current.version }, writable(fields));
      if ((result.affected ?? 0) !== 1) throw new Error(`Schedule ${scheduleId} changed while it was being updated`);
      return { status: 'updated', schedule: structuredClone(updated) };
    });
  }

  async setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null> {
    return this.transaction(async (em) => {
      const row = await this.holdSchedule(em, userId, scheduleId);
      if (!row || !row.enabled || row.next_run_at) return null;
      const nextRunAt = plan(toSchedule(row));
      if (!nextRunAt) return null;
      await this.schedules(em).update({ id: scheduleId, user_id: userId, next_run_at: IsNull() }, { next_run_at: nextRunAt });
      return nextRunAt;
    });
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.transaction(async (em) => {
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
    return this.transaction(async (em) => {
      // Locking the schedule row serialises the fires of one schedule (and races with its deletion).
      const query = this.schedules(em)
        .createQueryBuilder('s')
        .select('s.id')
        .where('s.id = :id AND s.user_id = :userId', { id: sourceScheduleId, userId });
      const schedule = await (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
      if (!schedule) return null;
      return this.writeFire(em, fire);
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

  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /** Writes a manual fire into an open transaction that holds the schedule; returns the stored session. */
  private async writeFire(em: EntityManager, fire: FireWrite): Promise<Session> {
    const [stored] = await this.writeFires(em, [fire]);
    await this.schedules(em).update({ id: fire.run.scheduleId }, { last_run_at: fire.firedAt });
    return stored;
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
  private async writeFires(em: EntityManager, fires: FireWrite[]): Promise<Session[]> {
    const statefulIds = fires.filter((f) => f.stateful).map((f) => f.session.id);
    const existing = new Map(
      statefulIds.length > 0
        ? (await this.sessions(em).findBy({ id: In(statefulIds) })).map((row) => [row.id, row] as const)
        : [],
    );
    const stored: Session[] = [];
    const inserts: SessionRow[] = [];
    for (const fire of fires) {
      const row = existing.get(fire.session.id);
      if (row) {
        const appended = appendFireMessage(toSession(row), fire);
        await this.sessions(em).update({ id: appended.id }, writable({ state: appended.state, updated_at: appended.updatedAt }));
        stored.push(appended);
      } else {
        inserts.push(toSessionRow(fire.session));
        stored.push(structuredClone(fire.session));
      }
    }
    await this.bulk.insert(em, 'sessions', inserts);
    await this.bulk.insert(em, 'runs', fires.map((f) => toRunRow(f.run)));
    return stored;
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
