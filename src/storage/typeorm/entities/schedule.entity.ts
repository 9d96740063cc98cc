import { EntitySchema } from 'typeorm';
import type { ChatModelConfig } from '../../../domain/schedule.js';
import type { SqlDialect } from '../dialect.js';

/** A row of `schedules`; column names are the property names. */
export interface ScheduleRow {
  id: string;
  user_id: string;
  agent_id: string;
  name: string;
  description: string;
  enabled: boolean;
  timezone: string;
  /** '' for the kinds without one (the column predates them and is NOT NULL). */
  cron_expression: string;
  fire_at: Date | null;
  every_seconds: number | null;
  anchor_at: Date | null;
  jitter_seconds: number;
  started_at: Date | null;
  ended_at: Date | null;
  chat_model_config: ChatModelConfig;
  stateful: boolean;
  permission_mode: string;
  source: string;
  source_session_id: string | null;
  catchup_window_seconds: number;
  overlap_policy: string;
  run_timeout_seconds: number;
  history_limit: number | null;
  next_run_at: Date | null;
  last_run_at: Date | null;
  paused_reason: string | null;
  pause_note: string | null;
  pause_after_failures: number | null;
  consecutive_failures: number;
  max_runs: number | null;
  fire_count: number;
  /** JSON text of the Budget, or null. */
  budget: string | null;
  budget_exhausted_until: Date | null;
  /** JSON text of the ScheduleStats. */
  stats: string;
  /** JSON text of the Labels. */
  labels: string;
  schedule_key: string | null;
  /** JSON text: the skipped fire times, ISO strings, earliest first. */
  skipped_fire_times: string;
  created_at: Date;
  updated_at: Date;
  version: number;
}

export function scheduleEntity(dialect: SqlDialect): EntitySchema<ScheduleRow> {
  const t = dialect.columnTypes;
  // Ids order byte-wise on every backend ("C" collation on PostgreSQL), like the memory backend.
  const idCollation = dialect.idCollation;
  return new EntitySchema<ScheduleRow>({
    name: 'ScheduleRow',
    tableName: 'schedules',
    columns: {
      id: { type: 'varchar', length: 64, primary: true, collation: idCollation },
      user_id: { type: 'varchar', length: 256 },
      agent_id: { type: 'varchar', length: 256 },
      name: { type: 'varchar', length: 256 },
      description: { type: 'text' },
      enabled: { type: 'boolean' },
      timezone: { type: 'varchar', length: 64 },
      cron_expression: { type: 'varchar', length: 256 },
      fire_at: { type: t.timestamp, nullable: true },
      every_seconds: { type: 'integer', nullable: true },
      anchor_at: { type: t.timestamp, nullable: true },
      // The migration's DEFAULT (no jitter) stays on the column.
      jitter_seconds: { type: 'integer', default: 0 },
      started_at: { type: t.timestamp, nullable: true },
      ended_at: { type: t.timestamp, nullable: true },
      chat_model_config: { type: t.json },
      stateful: { type: 'boolean' },
      permission_mode: { type: 'varchar', length: 32 },
      source: { type: 'varchar', length: 16 },
      source_session_id: { type: 'varchar', length: 256, nullable: true },
      // The migration that added the column gave existing rows 300 as its DEFAULT, which stays on the column.
      catchup_window_seconds: { type: 'integer', default: 300 },
      // Likewise: the dispatch migration's DEFAULTs (what existing schedules got) stay on the columns.
      overlap_policy: { type: 'varchar', length: 16, default: 'skip' },
      run_timeout_seconds: { type: 'integer', default: 3600 },
      history_limit: { type: 'integer', nullable: true },
      next_run_at: { type: t.timestamp, nullable: true },
      last_run_at: { type: t.timestamp, nullable: true },
      paused_reason: { type: 'varchar', length: 32, nullable: true },
      pause_note: { type: 'text', nullable: true },
      pause_after_failures: { type: 'integer', nullable: true },
      // The migration's DEFAULT (existing schedules start from zero) stays on the column.
      consecutive_failures: { type: 'integer', default: 0 },
      max_runs: { type: 'integer', nullable: true },
      // Likewise (the migration counted existing schedules' fires from their runs).
      fire_count: { type: 'integer', default: 0 },
      budget: { type: 'text', nullable: true },
      budget_exhausted_until: { type: t.timestamp, nullable: true },
      // Likewise (the migration counted existing schedules' runs).
      stats: { type: 'text', default: '{}' },
      // The migration's DEFAULT (no labels) stays on the column.
      labels: { type: 'text', default: '{}' },
      schedule_key: { type: 'varchar', length: 128, nullable: true },
      // The migration's DEFAULT (none skipped) stays on the column.
      skipped_fire_times: { type: 'text', default: '[]' },
      created_at: { type: t.timestamp },
      updated_at: { type: t.timestamp },
      // As with catchup_window_seconds: the migration's DEFAULT (the version of existing rows) stays on the column.
      version: { type: 'integer', default: 1 },
    },
    indices: [
      { name: 'schedules_user_created_idx', columns: ['user_id', 'created_at', 'id'] },
      // A user's keys are unique (PUT /schedule/by-key/{key}); schedules without one are not in it.
      { name: 'schedules_user_key_idx', columns: ['user_id', 'schedule_key'], unique: true, where: 'schedule_key IS NOT NULL' },
      // The claim's "due first" scan; only schedules that will fire are in it.
      { name: 'schedules_due_idx', columns: ['next_run_at', 'id'], where: 'next_run_at IS NOT NULL' },
      // The pruner's starting point: only schedules that keep a bounded history.
      { name: 'schedules_history_limited_idx', columns: ['id'], where: 'history_limit IS NOT NULL' },
    ],
  });
}
