import type { DataSource, EntityManager, QueryDeepPartialEntity, Repository } from 'typeorm';
import { DomainError, StorageUnavailable } from '../../common/domain-errors.js';
import { DispatchHandOff } from '../dispatch-hand-off.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';
import { BulkSql } from './bulk-sql.js';
import { ContextRows } from './context-rows.js';
import { dialectOfDriver, type SqlDialect } from './dialect.js';
import { DispatchSql } from './dispatch-sql.js';
import type { DispatchAttemptRow } from './entities/dispatch-attempt.entity.js';
import type { OutboxRow } from './entities/outbox.entity.js';
import { EventRows } from './event-rows.js';
import type { RunRow } from './entities/run.entity.js';
import type { ScheduleRow } from './entities/schedule.entity.js';
import type { SessionRow } from './entities/session.entity.js';
import { KeyedQueue } from './keyed-queue.js';
import { type SessionQueries, sessionQueries } from './session-queries.js';

/** The PostgreSQL channel on which a commit that made outbox entries deliverable tells the other replicas. */
export const OUTBOX_READY_CHANNEL = 'outbox_ready';

/**
 * A transaction's work. It calls `ready` when it made outbox entries deliverable now: the commit
 * then tells the other replicas' dispatchers (PostgreSQL NOTIFY, sent by the transaction itself),
 * and this process's once it has committed (DispatchHandOff.ready).
 */
export type TransactionWork<T> = (em: EntityManager, ready: () => Promise<void>) => Promise<T>;

/**
 * What the TypeORM storage's ports share: the DataSource, its dialect and statements, the queues
 * that order this process's transactions, the hand-off to this process's dispatcher, and the
 * repositories. One per DataSource.
 */
export class TypeOrmContext {
  readonly dialect: SqlDialect;
  readonly bulk: BulkSql;
  readonly queries: SessionQueries;
  /** The statements of dispatch: overlap, outbox, run endings, pruning. */
  readonly dispatch: DispatchSql;
  /** The contexts of stateful sessions, kept as rows of their own. */
  readonly context: ContextRows;
  /** The schedule events the transitions write. */
  readonly events: EventRows;
  private writeQueue: Promise<unknown> = Promise.resolve();
  /**
   * The writes that hold one schedule's row (updates, fires, deletion) wait for each other here,
   * before they take a connection: however many requests pile up on one schedule (say, runs of a
   * stateful schedule whose session is large), they hold one connection of the pool, not all.
   */
  private readonly scheduleWrites = new KeyedQueue();

  constructor(
    readonly dataSource: DataSource,
    readonly options: StorageOptions = DEFAULT_STORAGE_OPTIONS,
    readonly handOff = new DispatchHandOff(),
  ) {
    this.dialect = dialectOfDriver(dataSource.options.type);
    this.bulk = new BulkSql(this.dialect);
    this.queries = sessionQueries(this.dialect);
    this.context = new ContextRows(this.dialect, { maxMessages: options.statefulSessionMaxMessages, maxBytes: options.statefulSessionMaxBytes });
    this.events = new EventRows(this.bulk, options.scheduleEvents);
    this.dispatch = new DispatchSql(this.dialect, this.context, this.events);
  }

  /**
   * Runs `work` in a transaction. TypeORM's SQLite driver has a single connection, on which
   * concurrent transactions would nest as savepoints of each other, so on SQLite they queue.
   */
  async transaction<T>(work: TransactionWork<T>): Promise<T> {
    let madeReady = false;
    const inTransaction = (em: EntityManager) =>
      work(em, async () => {
        if (madeReady) return;
        madeReady = true;
        if (this.dialect.notify) await em.query(this.dialect.notify, [OUTBOX_READY_CHANNEL, this.handOff.instanceId]);
      });
    let result: T;
    if (this.dialect.rowLocks) {
      result = await this.dataSource.transaction(inTransaction);
    } else {
      const run = this.writeQueue.then(() => this.dataSource.transaction(inTransaction));
      this.writeQueue = run.catch(() => undefined);
      result = await run;
    }
    if (madeReady) this.handOff.ready();
    return result;
  }

  /** Runs `work` in a transaction, after every write of this schedule that came before it in this process. */
  scheduleWrite<T>(scheduleId: string, work: TransactionWork<T>): Promise<T> {
    return this.scheduleWrites.run(scheduleId, () => this.transaction(work));
  }

  /**
   * Reads the user's schedule row in an open transaction, holding it until the transaction ends:
   * on PostgreSQL a row lock (FOR UPDATE: updates and fires of it wait, claims skip it); on SQLite
   * this process's transactions queue anyway (see transaction()).
   */
  async holdSchedule(em: EntityManager, userId: string, scheduleId: string): Promise<ScheduleRow | null> {
    const query = this.schedules(em).createQueryBuilder('s').where('s.id = :id AND s.user_id = :userId', { id: scheduleId, userId });
    return (this.dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
  }

  /** A driver error that means the database is unavailable, as StorageUnavailable (keeping it as the cause); any other as it is. */
  translated(error: unknown): unknown {
    if (error instanceof DomainError || !this.dialect.isUnavailable(error)) return error;
    return new StorageUnavailable(undefined, { cause: error });
  }

  schedules(em: EntityManager = this.dataSource.manager): Repository<ScheduleRow> {
    return em.getRepository<ScheduleRow>('ScheduleRow');
  }

  sessions(em: EntityManager = this.dataSource.manager): Repository<SessionRow> {
    return em.getRepository<SessionRow>('SessionRow');
  }

  runs(em: EntityManager = this.dataSource.manager): Repository<RunRow> {
    return em.getRepository<RunRow>('RunRow');
  }

  outbox(em: EntityManager = this.dataSource.manager): Repository<OutboxRow> {
    return em.getRepository<OutboxRow>('OutboxRow');
  }

  attempts(em: EntityManager = this.dataSource.manager): Repository<DispatchAttemptRow> {
    return em.getRepository<DispatchAttemptRow>('DispatchAttemptRow');
  }
}

/** TypeORM's deep-partial type cannot see through free-form JSON columns; the rows are exact. */
export function writable<T>(row: Partial<T>): QueryDeepPartialEntity<T> {
  return row as QueryDeepPartialEntity<T>;
}
