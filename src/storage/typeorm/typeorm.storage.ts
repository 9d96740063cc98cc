import type { DataSource } from 'typeorm';
import { StorageUnavailable } from '../../common/domain-errors.js';
import { DispatchHandOff } from '../dispatch-hand-off.js';
import { StorageLifecycle } from '../ports/storage-lifecycle.js';
import type { StorageBackend } from '../storage-backend.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';
import { TypeOrmContext } from './typeorm-context.js';
import { TypeOrmDeliveryStorage } from './typeorm-delivery.storage.js';
import { TypeOrmFiringStorage } from './typeorm-firing.storage.js';
import { TypeOrmHistoryStorage } from './typeorm-history.storage.js';
import { TypeOrmIdempotencyStorage } from './typeorm-idempotency.storage.js';
import { TypeOrmScheduleStorage } from './typeorm-schedule.storage.js';

/** Selects nothing, but fails unless every table is there: the schema half of the readiness check. */
const SCHEMA_PROBE = ['schedules', 'sessions', 'session_messages', 'runs', 'outbox', 'dispatch_attempts', 'schedule_events', 'idempotency_keys']
  .map((table, i) => `SELECT 1${i === 0 ? ' AS x' : ''} FROM ${table} WHERE 1 = 0`)
  .join(' UNION ALL ');

/**
 * Writes nothing, but fails unless the database takes writes now: a read-only server (a standby
 * after failover, `default_transaction_read_only`) refuses it, a SQLite file another process
 * holds makes it wait (and the readiness check time out).
 */
const WRITE_PROBE = 'UPDATE schedules SET id = id WHERE 1 = 0';

/**
 * SQLite (embedded) and PostgreSQL (production) storage, through one TypeORM DataSource: one
 * object per port over a shared TypeOrmContext. Every port method is wrapped once so that a
 * database that is down, unreachable, overloaded or without its schema surfaces as
 * StorageUnavailable: nothing above storage knows about drivers.
 */
export class TypeOrmStorage implements StorageBackend {
  readonly schedules: TypeOrmScheduleStorage;
  readonly history: TypeOrmHistoryStorage;
  readonly firing: TypeOrmFiringStorage;
  readonly delivery: TypeOrmDeliveryStorage;
  readonly idempotency: TypeOrmIdempotencyStorage;
  readonly lifecycle: TypeOrmLifecycle;
  readonly handOff = new DispatchHandOff();

  constructor(dataSource: DataSource, options: StorageOptions = DEFAULT_STORAGE_OPTIONS) {
    const db = new TypeOrmContext(dataSource, options, this.handOff);
    const translated = (error: unknown) => db.translated(error);
    this.schedules = translatingErrors(new TypeOrmScheduleStorage(db), translated);
    this.history = translatingErrors(new TypeOrmHistoryStorage(db), translated);
    this.firing = translatingErrors(new TypeOrmFiringStorage(db), translated);
    this.delivery = translatingErrors(new TypeOrmDeliveryStorage(db), translated);
    this.idempotency = translatingErrors(new TypeOrmIdempotencyStorage(db), translated);
    this.lifecycle = translatingErrors(new TypeOrmLifecycle(db), translated);
  }
}

class TypeOrmLifecycle extends StorageLifecycle {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async ping(): Promise<void> {
    const { dataSource } = this.db;
    await dataSource.query(SCHEMA_PROBE);
    const table = dataSource.options.migrationsTableName ?? 'migrations';
    const applied = new Set(Array.from((await dataSource.query(`SELECT name FROM ${table}`)) as { name: string }[], (r) => r.name));
    const missing = dataSource.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => !applied.has(name));
    if (missing.length > 0) {
      throw new StorageUnavailable(`The database schema is incomplete: ${missing.length} migration(s) not applied.`);
    }
    // In a transaction of its own: on SQLite, after this process's writes (see TypeOrmContext.transaction).
    await this.db.transaction((em) => em.query(WRITE_PROBE));
  }

  async close(): Promise<void> {
    if (this.db.dataSource.isInitialized) await this.db.dataSource.destroy();
  }
}

/**
 * `port` with each method of its class (the port's, and the class's own helpers, all async)
 * rejecting with `translate(error)` instead of the error it threw.
 */
function translatingErrors<T extends object>(port: T, translate: (error: unknown) => unknown): T {
  const prototype = Object.getPrototypeOf(port) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = prototype[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    Object.defineProperty(port, name, {
      value: (...args: unknown[]) => (method.apply(port, args) as Promise<unknown>).catch((error: unknown) => Promise.reject(translate(error))),
    });
  }
  return port;
}
