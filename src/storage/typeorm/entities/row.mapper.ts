import type { OverlapPolicy, PermissionMode, Schedule, ScheduleSource } from '../../../domain/schedule.js';
import type { Session, SessionSource } from '../../../domain/session.js';
import type { DispatchAttempt, Run, RunStatus, RunTrigger } from '../../../domain/run.js';
import type { DispatchAttemptRow } from './dispatch-attempt.entity.js';
import type { RunRow } from './run.entity.js';
import type { ScheduleRow } from './schedule.entity.js';
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
    cron_expression: s.cronExpression,
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
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    version: s.version,
  };
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
    cronExpression: r.cron_expression,
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
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

export function toSessionRow(s: Session): SessionRow {
  return {
    id: s.id,
    user_id: s.userId,
    agent_id: s.agentId,
    source: s.source,
    source_schedule_id: s.sourceScheduleId,
    team_id: s.teamId,
    config: s.config,
    state: s.state,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
}

export function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    userId: r.user_id,
    agentId: r.agent_id,
    config: r.config,
    source: r.source as SessionSource,
    sourceScheduleId: r.source_schedule_id,
    teamId: r.team_id,
    state: r.state,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
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
    finished_at: r.finishedAt,
    timeout_at: r.timeoutAt,
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
    finishedAt: r.finished_at,
    timeoutAt: r.timeout_at,
  };
}

export function toDispatchAttemptRow(a: DispatchAttempt): DispatchAttemptRow {
  return { run_id: a.runId, at: a.at, status_code: a.statusCode, error: a.error, duration_ms: a.durationMs };
}

export function toDispatchAttempt(r: DispatchAttemptRow): DispatchAttempt {
  return { runId: r.run_id, at: r.at, statusCode: r.status_code, error: r.error, durationMs: r.duration_ms };
}
