import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/** A row of `runs`; column names are the property names. */
export interface RunRow {
  id: string;
  schedule_id: string;
  user_id: string;
  session_id: string | null;
  trigger: string;
  scheduled_for: Date;
  fired_at: Date | null;
  status: string;
  error: string | null;
  skip_reason: string | null;
  /** JSON text of the RunOverrides, or null. */
  overrides: string | null;
  replay_of: string | null;
  gave_up: boolean;
  finished_at: Date | null;
  timeout_at: Date | null;
  /** What the run consumed (RunUsage), null until its runtime reports it; apart, so that sums need no JSON. */
  usage_input_tokens: number | null;
  usage_output_tokens: number | null;
  usage_cost_usd: number | null;
}

/**
 * The WHERE clause of the indexes over active runs (ACTIVE_RUN_STATUSES), and of the queries that
 * use them: SQLite uses a partial index only for a query that repeats its condition.
 */
export const ACTIVE_RUN = "status IN ('pending', 'dispatched', 'running')";

export function runEntity(dialect: SqlDialect): EntitySchema<RunRow> {
  const t = dialect.columnTypes;
  const idCollation = dialect.idCollation;
  return new EntitySchema<RunRow>({
    name: 'RunRow',
    tableName: 'runs',
    columns: {
      id: { type: 'varchar', length: 64, primary: true, collation: idCollation },
      schedule_id: { type: 'varchar', length: 64, collation: idCollation },
      user_id: { type: 'varchar', length: 256 },
      session_id: { type: 'varchar', length: 128, nullable: true },
      trigger: { type: 'varchar', length: 16 },
      scheduled_for: { type: t.timestamp },
      fired_at: { type: t.timestamp, nullable: true },
      status: { type: 'varchar', length: 16 },
      error: { type: 'text', nullable: true },
      skip_reason: { type: 'varchar', length: 32, nullable: true },
      overrides: { type: 'text', nullable: true },
      replay_of: { type: 'varchar', length: 64, nullable: true },
      // The migration's DEFAULT (existing runs: not known to have given up) stays on the column.
      gave_up: { type: 'boolean', default: false },
      finished_at: { type: t.timestamp, nullable: true },
      timeout_at: { type: t.timestamp, nullable: true },
      usage_input_tokens: { type: 'bigint', nullable: true },
      usage_output_tokens: { type: 'bigint', nullable: true },
      usage_cost_usd: { type: 'double precision', nullable: true },
    },
    indices: [
      // Exactly once, enforced by the database: one scheduled run per schedule and fire time.
      {
        name: 'runs_schedule_slot_uq',
        columns: ['schedule_id', 'scheduled_for'],
        unique: true,
        where: "trigger <> 'manual' AND trigger <> 'replay'",
      },
      { name: 'runs_user_schedule_time_idx', columns: ['user_id', 'schedule_id', 'scheduled_for', 'id'] },
      // GET /runs: a user's runs across schedules, newest first.
      { name: 'runs_user_time_idx', columns: ['user_id', 'scheduled_for', 'id'] },
      // Only active runs: what a fire's overlap policy looks at, and what the timeout scan ends.
      { name: 'runs_active_idx', columns: ['schedule_id', 'id'], where: ACTIVE_RUN },
      { name: 'runs_timeout_idx', columns: ['timeout_at', 'id'], where: ACTIVE_RUN },
    ],
  });
}
