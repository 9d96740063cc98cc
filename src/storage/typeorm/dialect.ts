import type { ColumnType } from 'typeorm';

export type SqlDialect = 'sqlite' | 'postgres';

/** Column types that differ between the SQL backends; everything else is shared. */
export interface DialectColumnTypes {
  timestamp: ColumnType;
  json: ColumnType;
}

export function columnTypes(dialect: SqlDialect): DialectColumnTypes {
  return dialect === 'postgres'
    ? { timestamp: 'timestamptz', json: 'jsonb' }
    : { timestamp: 'datetime', json: 'simple-json' };
}
