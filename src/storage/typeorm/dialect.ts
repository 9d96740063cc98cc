import type { ColumnType } from 'typeorm';

export type SqlDialectName = 'sqlite' | 'postgres';

/**
 * Everything that differs between the SQL backends, in one place: column types, collation,
 * placeholders, how values are passed, and what the engine can lock. The rest of storage/typeorm/
 * asks the dialect instead of testing which database it is on.
 */
export interface SqlDialect {
  readonly name: SqlDialectName;
  readonly columnTypes: { readonly timestamp: ColumnType; readonly json: ColumnType };
  /** Collation of id columns, so that "ties by id" order byte-wise on every backend. */
  readonly idCollation: string | undefined;
  /**
   * Whether rows can be locked (`FOR UPDATE`, `SKIP LOCKED`). SQLite has one writer at a time
   * and a single TypeORM connection, so its transactions are queued by the process instead.
   */
  readonly rowLocks: boolean;
  /** The placeholder of the `position`-th (1-based) query parameter. */
  placeholder(position: number): string;
  /** A timestamp placeholder where the database cannot infer the type (a VALUES list). */
  timestampSlot(placeholder: string): string;
  /** A value as a query parameter, in the form its column stores it. */
  param(value: unknown): unknown;
  /** A timestamp as the driver returns it in a raw row. */
  timestampFromRaw(value: Date | string): Date;
}

/** JSON columns take their text; everything else passes as it is. */
function sharedParam(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && !(value instanceof Date)) return JSON.stringify(value);
  return value;
}

export const POSTGRES: SqlDialect = {
  name: 'postgres',
  columnTypes: { timestamp: 'timestamptz', json: 'jsonb' },
  idCollation: 'C',
  rowLocks: true,
  placeholder: (position) => `$${position}`,
  timestampSlot: (placeholder) => `${placeholder}::timestamptz`,
  param: sharedParam,
  timestampFromRaw: (value) => (value instanceof Date ? value : new Date(value)),
};

export const SQLITE: SqlDialect = {
  name: 'sqlite',
  columnTypes: { timestamp: 'datetime', json: 'simple-json' },
  idCollation: undefined,
  rowLocks: false,
  placeholder: (position) => `?${position}`,
  timestampSlot: (placeholder) => placeholder,
  // Timestamps as TypeORM's UTC text form (`2026-11-28 09:00:00.123`), booleans as 0/1.
  param: (value) => {
    if (value instanceof Date) return value.toISOString().replace('T', ' ').replace('Z', '');
    if (typeof value === 'boolean') return Number(value);
    return sharedParam(value);
  },
  timestampFromRaw: (value) => (value instanceof Date ? value : new Date(`${value.replace(' ', 'T')}Z`)),
};

export function dialectNamed(name: SqlDialectName): SqlDialect {
  return name === 'postgres' ? POSTGRES : SQLITE;
}
