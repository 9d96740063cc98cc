import type { OverlapPolicy, PermissionMode, Schedule, ScheduleSource, StoredPauseReason } from '../../../domain/schedule.js';
import type { Session, SessionSource } from '../../../domain/session.js';
import type { Budget } from '../../../domain/budget.js';
import type { Labels } from '../../../domain/labels.js';
import type { DispatchAttempt, Run, RunOverrides, RunStatus, RunTrigger, RunUsage, SkipReason } from '../../../domain/run.js';
import { statsFromJson, statsToJson } from '../../../domain/schedule-stats.js';
import type { DispatchAttemptRow } from './dispatch-attempt.entity.js';
import type { RunRow } from './run.entity.js';
import type { ScheduleRow } from './schedule.entity.js';
import type { SqlDialect } from '../dialect.js';
import type { SessionRow } from './session.entity.js';

// Rows never leave src/storage/typeorm: these turn them into the plain models and back.

export function toScheduleRow(s: Schedule): ScheduleRow {
  return {
    id: s.id,
    user_id: s.userId,
    agent_id: s.agentId,
    name: s.name,
    description: s.description,
    enabled: s.enabled,
    timezone: s.timezone,
    cron_expression: s.cronExpression ?? '',
    fire_at: s.fireAt,
    every_seconds: s.everySeconds,
    anchor_at: s.anchorAt,
    jitter_seconds: s.jitterSeconds,
    started_at: s.startedAt,
    ended_at: s.endedAt,
    chat_model_config: s.chatModelConfig,
    stateful: s.stateful,
    permission_mode: s.permissionMode,
    source: s.source,
    source_session_id: s.sourceSessionId,
    catchup_window_seconds: s.catchupWindowSeconds,
    overlap_policy: s.overlapPolicy,
    run_timeout_seconds: s.runTimeoutSeconds,
    history_limit: s.historyLimit,
    next_run_at: s.nextRunAt,
    last_run_at: s.lastRunAt,
    paused_reason: s.pausedReason,
    pause_note: s.pauseNote,
    pause_after_failures: s.pauseAfterFailures,
    consecutive_failures: s.consecutiveFailures,
    max_runs: s.maxRuns,
    fire_count: s.fireCount,
    budget: s.budget && JSON.stringify(s.budget),
    budget_exhausted_until: s.budgetExhaustedUntil,
    stats: statsToJson(s.stats),
    labels: JSON.stringify(s.labels),
    schedule_key: s.key,
    skipped_fire_times: JSON.stringify(s.skippedFireTimes),
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    version: s.version,
  };
}

/**
 * A `schedules` row as a raw query returns it (not through the entity): PostgreSQL's types as
 * node-postgres parses them; SQLite's timestamps as text, booleans as 0/1, JSON as text.
 */
export type RawScheduleRow = { [K in keyof ScheduleRow]: ScheduleRow[K] | string | number | null };

/** The schedule of a raw `schedules` row (see RawScheduleRow): what the hot paths read without TypeORM's hydration. */
export function scheduleFromRaw(dialect: SqlDialect, r: RawScheduleRow): Schedule {
  const at = (value: unknown) => (value == null ? null : dialect.timestampFromRaw(value as Date | string));
  return toSchedule({
    ...(r as ScheduleRow),
    enabled: Boolean(r.enabled),
    stateful: Boolean(r.stateful),
    chat_model_config: typeof r.chat_model_config === 'string' ? JSON.parse(r.chat_model_config) : (r.chat_model_config as ScheduleRow['chat_model_config']),
    started_at: at(r.started_at),
    ended_at: at(r.ended_at),
    next_run_at: at(r.next_run_at),
    last_run_at: at(r.last_run_at),
    budget_exhausted_until: at(r.budget_exhausted_until),
    fire_at: at(r.fire_at),
    anchor_at: at(r.anchor_at),
    created_at: at(r.created_at)!,
    updated_at: at(r.updated_at)!,
    catchup_window_seconds: Number(r.catchup_window_seconds),
    run_timeout_seconds: Number(r.run_timeout_seconds),
    history_limit: r.history_limit == null ? null : Number(r.history_limit),
    version: Number(r.version),
  });
}

export function toSchedule(r: ScheduleRow): Schedule {
  return {
    id: r.id,
    userId: r.user_id,
    agentId: r.agent_id,
    name: r.name,
    description: r.description,
    enabled: Boolean(r.enabled),
    timezone: r.timezone,
    cronExpression: r.cron_expression === '' ? null : r.cron_expression,
    fireAt: r.fire_at ?? null,
    everySeconds: r.every_seconds == null ? null : Number(r.every_seconds),
    anchorAt: r.anchor_at ?? null,
    jitterSeconds: Number(r.jitter_seconds ?? 0),
    startedAt: r.started_at,
    endedAt: r.ended_at,
    chatModelConfig: r.chat_model_config,
    stateful: Boolean(r.stateful),
    permissionMode: r.permission_mode as PermissionMode,
    source: r.source as ScheduleSource,
    sourceSessionId: r.source_session_id,
    catchupWindowSeconds: r.catchup_window_seconds,
    overlapPolicy: r.overlap_policy as OverlapPolicy,
    runTimeoutSeconds: r.run_timeout_seconds,
    historyLimit: r.history_limit,
    nextRunAt: r.next_run_at,
    lastRunAt: r.last_run_at,
    pausedReason: (r.paused_reason ?? null) as StoredPauseReason | null,
    pauseNote: r.pause_note ?? null,
    pauseAfterFailures: r.pause_after_failures == null ? null : Number(r.pause_after_failures),
    consecutiveFailures: Number(r.consecutive_failures ?? 0),
    maxRuns: r.max_runs == null ? null : Number(r.max_runs),
    fireCount: Number(r.fire_count ?? 0),
    budget: r.budget ? (JSON.parse(r.budget) as Budget) : null,
    budgetExhaustedUntil: r.budget_exhausted_until ?? null,
    stats: statsFromJson(r.stats),
    labels: r.labels ? (JSON.parse(r.labels) as Labels) : {},
    key: r.schedule_key ?? null,
    skippedFireTimes: r.skipped_fire_times ? (JSON.parse(r.skipped_fire_times) as string[]).map((iso) => new Date(iso)) : [],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

/**
 * A session's row with its messages in its state; `apart` (a stateful session, see ContextRows):
 * its state's context left empty, its messages as rows of their own, counted here.
 */
export function toSessionRow(s: Session, apart: { messages: number; bytes: number } | null = null): SessionRow {
  return {
    id: s.id,
    user_id: s.userId,
    agent_id: s.agentId,
    source: s.source,
    source_schedule_id: s.sourceScheduleId,
    team_id: s.teamId,
    config: s.config,
    state: apart ? { ...s.state, context: [] } : s.state,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    context_apart: apart !== null,
    context_messages: apart?.messages ?? 0,
    context_bytes: apart?.bytes ?? 0,
    context_seq: apart?.messages ?? 0,
  };
}

/** The session of a row; a context kept apart is given as `messages` (oldest first), else the row's own. */
export function toSession(r: SessionRow, messages?: Session['state']['context']): Session {
  return {
    id: r.id,
    userId: r.user_id,
    agentId: r.agent_id,
    config: r.config,
    source: r.source as SessionSource,
    sourceScheduleId: r.source_schedule_id,
    teamId: r.team_id,
    state: messages ? { ...r.state, context: messages } : r.state,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A `sessions` row as a raw query returns it (see RawScheduleRow): documents as text (PostgreSQL's `json` too, as the pool hands it over). */
export type RawSessionRow = { [K in keyof SessionRow]: SessionRow[K] | string | number | null };

/** The session of a raw `sessions` row; a context kept apart is given as `messages` (their JSON texts, oldest first). */
export function sessionFromRawRow(dialect: SqlDialect, r: RawSessionRow, messages?: readonly string[]): Session {
  const document = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value);
  return toSession(
    {
      ...(r as SessionRow),
      config: document(r.config),
      state: document(r.state),
      created_at: dialect.timestampFromRaw(r.created_at as Date | string),
      updated_at: dialect.timestampFromRaw(r.updated_at as Date | string),
    },
    r.context_apart ? (messages ?? []).map((text) => JSON.parse(text)) : undefined,
  );
}

/** A `runs` row as a raw query returns it (see RawScheduleRow). */
export type RawRunRow = { [K in keyof RunRow]: RunRow[K] | string | null };

/** The run of a raw `runs` row. */
export function runFromRaw(dialect: SqlDialect, r: RawRunRow): Run {
  const at = (value: unknown) => (value == null ? null : dialect.timestampFromRaw(value as Date | string));
  return toRun({
    ...(r as RunRow),
    scheduled_for: at(r.scheduled_for)!,
    fired_at: at(r.fired_at),
    finished_at: at(r.finished_at),
    timeout_at: at(r.timeout_at),
  });
}

export function toRunRow(r: Run): RunRow {
  return {
    id: r.id,
    schedule_id: r.scheduleId,
    user_id: r.userId,
    session_id: r.sessionId,
    trigger: r.trigger,
    scheduled_for: r.scheduledFor,
    fired_at: r.firedAt,
    status: r.status,
    error: r.error,
    skip_reason: r.skipReason,
    overrides: r.overrides && JSON.stringify(r.overrides),
    replay_of: r.replayOf,
    gave_up: r.gaveUp,
    finished_at: r.finishedAt,
    timeout_at: r.timeoutAt,
    usage_input_tokens: r.usage?.inputTokens ?? null,
    usage_output_tokens: r.usage?.outputTokens ?? null,
    usage_cost_usd: r.usage?.costUsd ?? null,
  };
}

export function toRun(r: RunRow): Run {
  return {
    id: r.id,
    scheduleId: r.schedule_id,
    userId: r.user_id,
    sessionId: r.session_id,
    trigger: r.trigger as RunTrigger,
    scheduledFor: r.scheduled_for,
    firedAt: r.fired_at,
    status: r.status as RunStatus,
    error: r.error,
    skipReason: (r.skip_reason ?? null) as SkipReason | null,
    overrides: r.overrides ? (JSON.parse(r.overrides) as RunOverrides) : null,
    replayOf: r.replay_of ?? null,
    gaveUp: Boolean(r.gave_up),
    finishedAt: r.finished_at,
    timeoutAt: r.timeout_at,
    usage: toRunUsage(r),
  };
}

/**
 * The usage columns as a RunUsage; null when none was reported. (PostgreSQL's driver hands a
 * bigint over as text; queries that select only some columns leave these undefined.)
 */
function toRunUsage(r: Pick<RunRow, 'usage_input_tokens' | 'usage_output_tokens' | 'usage_cost_usd'>): RunUsage | null {
  if (r.usage_input_tokens == null || r.usage_output_tokens == null) return null;
  return {
    inputTokens: Number(r.usage_input_tokens),
    outputTokens: Number(r.usage_output_tokens),
    costUsd: r.usage_cost_usd == null ? null : Number(r.usage_cost_usd),
  };
}

export function toDispatchAttemptRow(a: DispatchAttempt): DispatchAttemptRow {
  return { run_id: a.runId, at: a.at, status_code: a.statusCode, error: a.error, duration_ms: a.durationMs };
}

export function toDispatchAttempt(r: DispatchAttemptRow): DispatchAttempt {
  return { runId: r.run_id, at: r.at, statusCode: r.status_code, error: r.error, durationMs: r.duration_ms };
}
