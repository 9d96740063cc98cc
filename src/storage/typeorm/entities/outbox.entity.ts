import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/** A row of `outbox`: a dispatched run whose webhook is still to be delivered. */
export interface OutboxRow {
  run_id: string;
  schedule_id: string;
  /** When it may be delivered (next); null while the run waits for its turn (buffer_one). */
  available_at: Date | null;
  /** Delivery attempts made so far. */
  attempts: number;
  /** Claimed by a dispatcher until then; null when nobody holds it. */
  lease_until: Date | null;
  /**
   * A waiting stateful fire's message (JSON text), appended to its session when the run is
   * released, not when it fired (see keepsMessageUntilReleased); null otherwise.
   */
  pending_message: string | null;
}

export function outboxEntity(dialect: SqlDialect): EntitySchema<OutboxRow> {
  const t = dialect.columnTypes;
  const idCollation = dialect.idCollation;
  return new EntitySchema<OutboxRow>({
    name: 'OutboxRow',
    tableName: 'outbox',
    columns: {
      run_id: { type: 'varchar', length: 64, primary: true, collation: idCollation },
      schedule_id: { type: 'varchar', length: 64, collation: idCollation },
      available_at: { type: t.timestamp, nullable: true },
      attempts: { type: 'integer', default: 0 },
      lease_until: { type: t.timestamp, nullable: true },
      pending_message: { type: 'text', nullable: true },
    },
    indices: [
      // The dispatcher's "deliverable first" scan; held entries are not in it.
      { name: 'outbox_due_idx', columns: ['available_at', 'run_id'], where: 'available_at IS NOT NULL' },
      // A schedule's waiting entry (released when its active run ends), and the cascade delete.
      { name: 'outbox_schedule_idx', columns: ['schedule_id'] },
    ],
  });
}
