import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/** A row of `schedule_events`: a schedule's event (ScheduleEvent) still to be delivered. */
export interface ScheduleEventRow {
  id: string;
  schedule_id: string;
  user_id: string;
  type: string;
  occurred_at: Date;
  resets_at: Date | null;
  run_id: string | null;
  /** When it may be delivered (next). */
  available_at: Date;
  /** Delivery attempts made so far. */
  attempts: number;
  /** Claimed by a dispatcher until then; null when nobody holds it. */
  lease_until: Date | null;
}

export function scheduleEventEntity(dialect: SqlDialect): EntitySchema<ScheduleEventRow> {
  const t = dialect.columnTypes;
  const idCollation = dialect.idCollation;
  return new EntitySchema<ScheduleEventRow>({
    name: 'ScheduleEventRow',
    tableName: 'schedule_events',
    columns: {
      id: { type: 'varchar', length: 64, primary: true, collation: idCollation },
      schedule_id: { type: 'varchar', length: 64, collation: idCollation },
      user_id: { type: 'varchar', length: 256 },
      type: { type: 'varchar', length: 32 },
      occurred_at: { type: t.timestamp },
      resets_at: { type: t.timestamp, nullable: true },
      run_id: { type: 'varchar', length: 64, nullable: true },
      available_at: { type: t.timestamp },
      attempts: { type: 'integer', default: 0 },
      lease_until: { type: t.timestamp, nullable: true },
    },
    indices: [
      // The dispatcher's "deliverable first" scan.
      { name: 'schedule_events_due_idx', columns: ['available_at', 'id'] },
      // The cascade delete with the schedule.
      { name: 'schedule_events_schedule_idx', columns: ['schedule_id'] },
    ],
  });
}
