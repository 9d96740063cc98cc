import { ApiProperty } from '@nestjs/swagger';
import {
  OVERLAP_POLICIES,
  type OverlapPolicy,
  PAUSE_REASONS,
  type PauseReason,
  pausedReasonOf,
  PERMISSION_MODES,
  type PermissionMode,
  type Schedule,
  SCHEDULE_SOURCES,
  type ScheduleSource,
} from '../domain/schedule.js';
import { ChatModelConfigDto } from './chat-model-config.dto.js';
import { RunResponse } from './run.response.js';
import {
  EXAMPLE_AGENT_ID,
  EXAMPLE_CRON,
  EXAMPLE_DESCRIPTION,
  EXAMPLE_SCHEDULE_ID,
  EXAMPLE_SESSION_ID,
  EXAMPLE_TIMES,
  EXAMPLE_TIMEZONE,
  EXAMPLE_USER_ID,
} from '../docs/examples.js';

export class ScheduleDataResponse {
  @ApiProperty({ example: 'Weekday support digest' }) readonly name: string;
  @ApiProperty({ example: EXAMPLE_DESCRIPTION }) readonly description: string;
  @ApiProperty({ example: true }) readonly enabled: boolean;
  @ApiProperty({ description: 'IANA time zone.', example: EXAMPLE_TIMEZONE }) readonly timezone: string;
  @ApiProperty({ example: EXAMPLE_CRON }) readonly cron_expression: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2025-12-31T16:00:00.000Z' })
  readonly started_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2030-12-31T15:59:59.000Z' })
  readonly ended_at: string | null;
  @ApiProperty({ type: ChatModelConfigDto }) readonly chat_model_config: ChatModelConfigDto;
  @ApiProperty({ example: false }) readonly stateful: boolean;
  @ApiProperty({ enum: PERMISSION_MODES, example: 'dont_ask' }) readonly permission_mode: PermissionMode;
  @ApiProperty({ enum: SCHEDULE_SOURCES, description: 'Who created the schedule.', example: 'USER' }) readonly source: ScheduleSource;
  @ApiProperty({ type: String, nullable: true, description: 'The session an agent created the schedule from.', example: null })
  readonly source_session_id: string | null;
  @ApiProperty({ description: 'Catch-up window for missed fires, in seconds.', example: 300 }) readonly catchup_window_seconds: number;
  @ApiProperty({ enum: OVERLAP_POLICIES, description: 'What a fire does while a run of the schedule is still active.', example: 'skip' })
  readonly overlap_policy: OverlapPolicy;
  @ApiProperty({
    type: 'integer',
    description: 'A dispatched run without a final status this many seconds after dispatch times out.',
    example: 3600,
  })
  readonly run_timeout_seconds: number;
  @ApiProperty({ type: 'integer', nullable: true, description: 'Sessions and runs kept (the newest); null keeps all.', example: 100 })
  readonly history_limit: number | null;
  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Disabled once this many runs in a row end `failed` or `timed_out`; null never.',
    example: 3,
  })
  readonly pause_after_failures: number | null;
  @ApiProperty({ type: 'integer', nullable: true, description: 'Done after this many fires; null never.', example: null })
  readonly max_runs: number | null;
  @ApiProperty({
    enum: PAUSE_REASONS,
    nullable: true,
    description:
      'Why the schedule does not fire (read-only): `user` (disabled by the user), `consecutive_failures` (its ' +
      '`pause_after_failures` was reached), `max_runs_reached` (done after `max_runs` fires), `ended` (enabled, but its ' +
      'activation window has closed); null while it fires.',
    example: null,
  })
  readonly paused_reason: PauseReason | null;
  @ApiProperty({ type: String, nullable: true, description: "The user's note on the pause; null when none.", example: null })
  readonly pause_note: string | null;
}

export class ScheduleResponse {
  @ApiProperty({ example: EXAMPLE_SCHEDULE_ID }) readonly id: string;
  @ApiProperty({ example: EXAMPLE_USER_ID }) readonly user_id: string;
  @ApiProperty({ example: EXAMPLE_AGENT_ID }) readonly agent_id: string;
  @ApiProperty({ format: 'date-time', example: EXAMPLE_TIMES.created }) readonly created_at: string;
  @ApiProperty({ format: 'date-time', example: EXAMPLE_TIMES.created }) readonly updated_at: string;
  @ApiProperty({ type: ScheduleDataResponse }) readonly data: ScheduleDataResponse;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Next fire time (UTC); null when disabled or past the activation window.',
    example: EXAMPLE_TIMES.nextRun,
  })
  readonly next_run_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it last fired.', example: EXAMPLE_TIMES.fired })
  readonly last_run_at: string | null;
}

export class ScheduleListResponse {
  @ApiProperty({ type: [ScheduleResponse], description: "The caller's schedules, newest first." })
  readonly schedules: ScheduleResponse[];
  @ApiProperty({ type: 'integer', example: 1 }) readonly total: number;
}

export class CreateScheduleResponse {
  @ApiProperty({ description: 'ID of the new schedule.', example: EXAMPLE_SCHEDULE_ID }) readonly schedule_id: string;
}

export class RunScheduleResponse {
  @ApiProperty({ description: 'ID of the execution session the fire created or appended to.', example: EXAMPLE_SESSION_ID })
  readonly session_id: string;
  @ApiProperty({
    type: RunResponse,
    description: 'The run of this fire: `succeeded` without dispatch; `pending` with it (under `buffer_one`, waiting for the active run).',
  })
  readonly run: RunResponse;
}

export function toScheduleResponse(s: Schedule): ScheduleResponse {
  return {
    id: s.id,
    user_id: s.userId,
    agent_id: s.agentId,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    data: {
      name: s.name,
      description: s.description,
      enabled: s.enabled,
      timezone: s.timezone,
      cron_expression: s.cronExpression,
      started_at: s.startedAt?.toISOString() ?? null,
      ended_at: s.endedAt?.toISOString() ?? null,
      chat_model_config: { ...s.chatModelConfig },
      stateful: s.stateful,
      permission_mode: s.permissionMode,
      source: s.source,
      source_session_id: s.sourceSessionId,
      catchup_window_seconds: s.catchupWindowSeconds,
      overlap_policy: s.overlapPolicy,
      run_timeout_seconds: s.runTimeoutSeconds,
      history_limit: s.historyLimit,
      pause_after_failures: s.pauseAfterFailures,
      max_runs: s.maxRuns,
      paused_reason: pausedReasonOf(s),
      pause_note: s.pauseNote,
    },
    next_run_at: s.nextRunAt?.toISOString() ?? null,
    last_run_at: s.lastRunAt?.toISOString() ?? null,
  };
}
