import { type ColumnType, QueryFailedError } from 'typeorm';
import { NoDatabaseSession } from './postgres-driver.js';

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
  /**
   * A condition on a row's `labels` (JSON text of an object of strings): it has the label whose key
   * is the parameter `key`, with the value of the parameter `value` (null: any value).
   */
  labelCondition(key: string, value: string | null): string;
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
   * Whether an error means there is no usable database session, rather than that the database
   * refused this statement: the service could not get a connection, lost it, got no answer in
   * time, or was told the server cannot serve it now (read-only, shutting down, overloaded, its
   * schema gone). The rest (constraint violations, the service's own bugs) is not.
   */
  isUnavailable(error: unknown): boolean;
}

/** The error and what it wraps (TypeORM's QueryFailedError keeps the driver's as `driverError`). */
function* errorChain(error: unknown): Generator<DriverErrorFields> {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    yield e as DriverErrorFields;
    e = (e as { driverError?: unknown; cause?: unknown }).driverError ?? (e as { cause?: unknown }).cause;
  }
}

interface DriverErrorFields {
  code?: unknown;
  message?: unknown;
  syscall?: unknown;
}

/** Node's error for a system call that failed (a socket's connect, read or write): the network. */
const isSystemError = (e: DriverErrorFields): boolean => typeof e.syscall === 'string';

/** JavaScript's own errors: a value the driver could not take is the service's bug, whatever the wrapping. */
const isLanguageError = (e: unknown): boolean =>
  e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;

/**
 * What PostgreSQL answers when the session, not the statement, is the trouble, by SQLSTATE class:
 * 08 connection exception, 28 authorization refused, 3D no such database, 53 insufficient
 * resources (too many connections, out of memory or disk), 57 operator intervention (shut down,
 * crashed, starting up, cancelled: statement_timeout), 58 system error (I/O). And three codes of
 * classes that otherwise name the statement's fault: 25006 a write on a read-only server (a
 * standby after failover), 25P03 the session ended for idling in a transaction, 55P03 a lock not
 * had in time; and the schema gone (3F000 no such schema, 42P01 no such table).
 */
function isPostgresSessionState(sqlState: string): boolean {
  return ['08', '28', '3D', '53', '57', '58'].includes(sqlState.slice(0, 2)) || ['25006', '25P03', '55P03', '3F000', '42P01'].includes(sqlState);
}

/** A SQLSTATE: five digits or capitals, what every error PostgreSQL itself reports carries. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * PostgreSQL: no session could be had (NoDatabaseSession: every failure of the pool, whatever its
 * cause); the statement got no answer from the server (the network failed, the connection ended
 * or was closed, nothing came back in time: the driver's errors that carry no SQLSTATE); or the
 * server's answer names the session (isPostgresSessionState).
 */
function isPostgresUnavailable(error: unknown): boolean {
  if (isLanguageError(error)) return false;
  const chain = [...errorChain(error)];
  if (chain.some((e) => e instanceof NoDatabaseSession || isSystemError(e))) return true;
  const answered = chain.find((e) => typeof e.code === 'string' && SQLSTATE.test(e.code));
  if (answered) return isPostgresSessionState(answered.code as string);
  // Unanswered: the driver's own error, wrapped by TypeORM as the statement's failure.
  const driverError = error instanceof QueryFailedError ? (error.driverError as unknown) : undefined;
  return driverError instanceof Error && !isLanguageError(driverError);
}

/**
 * SQLite's primary result codes that are about the database file, not the statement: held by
 * another connection (BUSY, LOCKED), not writable (READONLY, FULL), not readable or openable
 * (IOERR, CANTOPEN, CORRUPT, NOTADB); and the schema gone (a missing table).
 */
const SQLITE_FILE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']);

function isSqliteUnavailable(error: unknown): boolean {
  return [...errorChain(error)].some(
    (e) =>
      (typeof e.code === 'string' && SQLITE_FILE_CODES.has(e.code)) ||
      (typeof e.message === 'string' && /^SQLITE_ERROR: no such table/.test(e.message)) ||
      isSystemError(e),
  );
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
  labelCondition: (key, value) => (value === null ? `jsonb_exists(labels::jsonb, ${key})` : `(labels::jsonb ->> ${key}) = ${value}`),
  placeholder: (position) => `$${position}`,
  timestampSlot: (placeholder) => `${placeholder}::timestamptz`,
  param: sharedParam,
  timestampFromRaw: (value) => (value instanceof Date ? value : new Date(value)),
  updateReturnsRows: true,
  notify: 'SELECT pg_notify($1, $2)',
  // A transaction-scoped advisory lock on (this service's key space, a hash of the user id): two
  // users whose ids collide only wait for each other briefly.
  lockUserSchedules: 'SELECT pg_advisory_xact_lock(1935893605, hashtext($1))',
  isUnavailable: isPostgresUnavailable,
};

export const SQLITE: SqlDialect = {
  name: 'sqlite',
  // Only an `integer` primary key is SQLite's rowid, which AUTOINCREMENT needs (it is 64-bit anyway).
  columnTypes: { timestamp: 'datetime', json: 'simple-json', document: 'simple-json', serial: 'integer' },
  idCollation: undefined,
  rowLocks: false,
  batchAsOneParam: false,
  lockClause: () => '',
  // Label keys hold no `"`: quoted, any key is one step of a JSON path.
  labelCondition: (key, value) => {
    const path = `'$."' || ${key} || '"'`;
    return value === null ? `json_type(labels, ${path}) IS NOT NULL` : `json_extract(labels, ${path}) = ${value}`;
  },
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
  isUnavailable: isSqliteUnavailable,
};

export function dialectNamed(name: SqlDialectName): SqlDialect {
  return name === 'postgres' ? POSTGRES : SQLITE;
}

/** The dialect of a DataSource's `type` (TypeORM's name of the driver). */
export function dialectOfDriver(type: string): SqlDialect {
  return type === 'postgres' ? POSTGRES : SQLITE;
}
