import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/** A row of `idempotency_keys`: a request with an Idempotency-Key, and its answer once it has one. */
export interface IdempotencyKeyRow {
  user_id: string;
  idem_key: string;
  /** What the request was (route and body), hashed: another request with the key is refused. */
  fingerprint: string;
  created_at: Date;
  /** The answer's status and body; null while the request is being handled. */
  status_code: number | null;
  body: string | null;
}

export function idempotencyKeyEntity(dialect: SqlDialect): EntitySchema<IdempotencyKeyRow> {
  const t = dialect.columnTypes;
  return new EntitySchema<IdempotencyKeyRow>({
    name: 'IdempotencyKeyRow',
    tableName: 'idempotency_keys',
    columns: {
      user_id: { type: 'varchar', length: 256, primary: true },
      idem_key: { type: 'varchar', length: 255, primary: true },
      fingerprint: { type: 'varchar', length: 64 },
      created_at: { type: t.timestamp },
      status_code: { type: 'integer', nullable: true },
      body: { type: 'text', nullable: true },
    },
    // The pruner's scan of expired keys.
    indices: [{ name: 'idempotency_keys_created_idx', columns: ['created_at'] }],
  });
}
