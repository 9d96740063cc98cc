import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/** A row of `dispatch_attempts`: one try at delivering a run's webhook. */
export interface DispatchAttemptRow {
  /** Generated; orders attempts made in the same millisecond. Never leaves storage. */
  id?: string | number;
  run_id: string;
  at: Date;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export function dispatchAttemptEntity(dialect: SqlDialect): EntitySchema<DispatchAttemptRow> {
  const t = dialect.columnTypes;
  return new EntitySchema<DispatchAttemptRow>({
    name: 'DispatchAttemptRow',
    tableName: 'dispatch_attempts',
    columns: {
      id: { type: t.serial, primary: true, generated: 'increment' },
      run_id: { type: 'varchar', length: 64, collation: dialect.idCollation },
      at: { type: t.timestamp },
      status_code: { type: 'integer', nullable: true },
      error: { type: 'text', nullable: true },
      duration_ms: { type: 'integer' },
    },
    // A run's attempts, oldest first; and the cascade delete with the run.
    indices: [{ name: 'dispatch_attempts_run_idx', columns: ['run_id', 'at', 'id'] }],
  });
}
