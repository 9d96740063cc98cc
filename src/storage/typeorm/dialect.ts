import type { ColumnType } from 'typeorm';

export type SqlDialectName = 'sqlite' | 'postgres';

/**
 * Everything that differs between the SQL backends, in one place: column types, collation,
 * placeholders, how values are passed, and what the engine can lock. The rest of storage/typeorm/
 * asks the dialect instead of testing which database it is on.
 */
export interface SqlDialect {
  readonly name: SqlDialectName;
  readonly columnTypes: {
    readonly timestamp: ColumnType;
    readonly json: ColumnType;
    /**
     * The sessions' documents (config and state): stored as the text written, handed to the client
     * as it is (PostgreSQL `json`, whose text needs no printing, unlike `jsonb`'s).
     */
    readonly document: ColumnType;
    /** A generated, ever-increasing row number (64-bit where the engine allows it with a sequence). */
    readonly serial: ColumnType;
  };
  /** Collation of id columns, so that "ties by id" order byte-wise on every backend. */
  readonly idCollation: string | undefined;
  /**
   * Whether rows can be locked (`FOR UPDATE`, `SKIP LOCKED`). SQLite has one writer at a time
   * and a single TypeORM connection, so its transactions are queued by the process instead.
   */
  readonly rowLocks: boolean;
  /**
   * Whether a batch of rows goes to the database as one parameter (PostgreSQL: a JSON array or
   * an array per column, expanded in SQL) rather than one parameter per value (see BulkSql).
   */
  readonly batchAsOneParam: boolean;
  /**
   * The clause a raw SELECT ends with to lock the rows it reads until the transaction ends
   * (`FOR UPDATE`), skipping rather than waiting for rows another transaction holds when
   * `skipLocked`; empty where there are no row locks (see rowLocks).
   */
  lockClause(skipLocked: boolean): string;
  /** The placeholder of the `position`-th (1-based) query parameter. */
  placeholder(position: number): string;
  /** A timestamp placeholder where the database cannot infer the type (a VALUES list). */
  timestampSlot(placeholder: string): string;
  /** A value as a query parameter, in the form its column stores it. */
  param(value: unknown): unknown;
  /** A timestamp as the driver returns it in a raw row. */
  timestampFromRaw(value: Date | string): Date;
  /**
   * A statement that tells every listener of a channel something when the transaction commits
   * (params: the channel, the payload); null where no other process shares the database.
   */
  readonly notify: string | null;
  /** Whether the rows of an `UPDATE … RETURNING` come back through TypeORM (its SQLite runner drops them). */
  readonly updateReturnsRows: boolean;
  /**
   * A statement that holds a lock on one user's schedules until the transaction ends (param: the
   * user id), so that counting them and inserting one is atomic; null where transactions queue anyway.
   */
  readonly lockUserSchedules: string | null;
  /**
   * Whether a driver error means the database is down, unreachable, overloaded or without its
   * schema, rather than refusing this statement: connection refused, reset or terminated, and the
   * engine's own codes for it.
   */
  isUnavailable(error: unknown): boolean;
}

/** Node's errors for a peer that is gone or never answered. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres's own errors (no code) for a connection that broke or could not be had in time. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Query read timeout|Connection closed/i;

/**
 * SQLSTATEs of a server that is down, starting, stopping, overloaded or missing what this service
 * needs: class 08 (connection exception), 53 (insufficient resources), 57P01-57P03 (shut down,
 * crashed, cannot connect now), 57014 (cancelled: statement_timeout), 3D000 (the database does not
 * exist), 42P01 (a table does not exist: the schema is gone).
 */
function isPostgresUnavailableCode(code: string): boolean {
  return /^(08|53)...$/.test(code) || ['57P01', '57P02', '57P03', '57014', '3D000', '42P01'].includes(code);
}

/** SQLite's result codes for a database file that is locked, unreadable or unwritable, or lacks its tables. */
const SQLITE_UNAVAILABLE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_READONLY']);

/** The error and what it wraps (TypeORM's QueryFailedError keeps the driver's as `driverError`). */
function* errorChain(error: unknown): Generator<{ code?: unknown; message?: unknown }> {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    yield e as { code?: unknown; message?: unknown };
    e = (e as { driverError?: unknown; cause?: unknown }).driverError ?? (e as { cause?: unknown }).cause;
  }
}

function anyInChain(error: unknown, test: (code: string, message: string) => boolean): boolean {
  for (const e of errorChain(error)) {
    if (test(typeof e.code === 'string' ? e.code : '', typeof e.message === 'string' ? e.message : '')) return true;
  }
  return false;
}

/** JSON columns take their text; everything else passes as it is. */
function sharedParam(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && !(value instanceof Date)) return JSON.stringify(value);
  return value;
}

export const POSTGRES: SqlDialect = {
  name: 'postgres',
  columnTypes: { timestamp: 'timestamptz', json: 'jsonb', document: 'json', serial: 'bigint' },
  idCollation: 'C',
  rowLocks: true,
  batchAsOneParam: true,
  lockClause: (skipLocked) => (skipLocked ? ' FOR UPDATE SKIP LOCKED' : ' FOR UPDATE'),
  placeholder: (position) => `$${position}`,
  timestampSlot: (placeholder) => `${placeholder}::timestamptz`,
  param: sharedParam,
  timestampFromRaw: (value) => (value instanceof Date ? value : new Date(value)),
  updateReturnsRows: true,
  notify: 'SELECT pg_notify($1, $2)',
  // A transaction-scoped advisory lock on (this service's key space, a hash of the user id): two
  // users whose ids collide only wait for each other briefly.
  lockUserSchedules: 'SELECT pg_advisory_xact_lock(1935893605, hashtext($1))',
  isUnavailable: (error) =>
    anyInChain(error, (code, message) => NETWORK_ERRORS.has(code) || isPostgresUnavailableCode(code) || PG_CONNECTION_MESSAGES.test(message)),
};

export const SQLITE: SqlDialect = {
  name: 'sqlite',
  // Only an `integer` primary key is SQLite's rowid, which AUTOINCREMENT needs (it is 64-bit anyway).
  columnTypes: { timestamp: 'datetime', json: 'simple-json', document: 'simple-json', serial: 'integer' },
  idCollation: undefined,
  rowLocks: false,
  batchAsOneParam: false,
  lockClause: () => '',
  placeholder: (position) => `?${position}`,
  timestampSlot: (placeholder) => placeholder,
  // Timestamps as TypeORM's UTC text form (`2026-11-28 09:00:00.123`), booleans as 0/1.
  param: (value) => {
    if (value instanceof Date) return value.toISOString().replace('T', ' ').replace('Z', '');
    if (typeof value === 'boolean') return Number(value);
    return sharedParam(value);
  },
  timestampFromRaw: (value) => (value instanceof Date ? value : new Date(`${value.replace(' ', 'T')}Z`)),
  updateReturnsRows: false,
  notify: null,
  lockUserSchedules: null,
  isUnavailable: (error) =>
    anyInChain(
      error,
      (code, message) => SQLITE_UNAVAILABLE_CODES.has(code) || /^SQLITE_ERROR: no such table/.test(message) || NETWORK_ERRORS.has(code),
    ),
};

export function dialectNamed(name: SqlDialectName): SqlDialect {
  return name === 'postgres' ? POSTGRES : SQLITE;
}

/** The dialect of a DataSource's `type` (TypeORM's name of the driver). */
export function dialectOfDriver(type: string): SqlDialect {
  return type === 'postgres' ? POSTGRES : SQLITE;
}
