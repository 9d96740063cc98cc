import { ApiProperty } from '@nestjs/swagger';
import {
  OVERLAP_POLICIES,
  type OverlapPolicy,
  PERMISSION_MODES,
  type PermissionMode,
  type Schedule,
  SCHEDULE_SOURCES,
  type ScheduleSource,
} from '../../domain/schedule.js';
import { ChatModelConfigDto } from './chat-model-config.dto.js';
import { RunResponse } from './run.response.js';

export class ScheduleDataResponse {
  @ApiProperty() readonly name: string;
  @ApiProperty() readonly description: string;
  @ApiProperty() readonly enabled: boolean;
  @ApiProperty({ description: 'IANA time zone.' }) readonly timezone: string;
  @ApiProperty() readonly cron_expression: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) readonly started_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) readonly ended_at: string | null;
  @ApiProperty({ type: ChatModelConfigDto }) readonly chat_model_config: ChatModelConfigDto;
  @ApiProperty() readonly stateful: boolean;
  @ApiProperty({ enum: PERMISSION_MODES }) readonly permission_mode: PermissionMode;
  @ApiProperty({ enum: SCHEDULE_SOURCES, description: 'Who created the schedule.' }) readonly source: ScheduleSource;
  @ApiProperty({ type: String, nullable: true, description: 'The session an agent created the schedule from.' })
  readonly source_session_id: string | null;
  @ApiProperty({ description: 'Catch-up window for missed fires, in seconds.' }) readonly catchup_window_seconds: number;
  @ApiProperty({ enum: OVERLAP_POLICIES, description: 'What a fire does while a run of the schedule is still active.' })
  readonly overlap_policy: OverlapPolicy;
  @ApiProperty({ type: 'integer', description: 'A dispatched run without a final status this many seconds after dispatch times out.' })
  readonly run_timeout_seconds: number;
  @ApiProperty({ type: 'integer', nullable: true, description: 'Sessions and runs kept (the newest); null keeps all.' })
  readonly history_limit: number | null;
}

export class ScheduleResponse {
  @ApiProperty() readonly id: string;
  @ApiProperty() readonly user_id: string;
  @ApiProperty() readonly agent_id: string;
  @ApiProperty({ format: 'date-time' }) readonly created_at: string;
  @ApiProperty({ format: 'date-time' }) readonly updated_at: string;
  @ApiProperty({ type: ScheduleDataResponse }) readonly data: ScheduleDataResponse;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Next fire time (UTC); null when disabled or past the activation window.',
  })
  readonly next_run_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it last fired.' })
  readonly last_run_at: string | null;
}

export class ScheduleListResponse {
  @ApiProperty({ type: [ScheduleResponse], description: "The caller's schedules, newest first." })
  readonly schedules: ScheduleResponse[];
  @ApiProperty() readonly total: number;
}

export class CreateScheduleResponse {
  @ApiProperty({ description: 'ID of the new schedule.' }) readonly schedule_id: string;
}

export class RunScheduleResponse {
  @ApiProperty({ description: 'ID of the execution session the fire created or appended to.' })
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
    },
    next_run_at: s.nextRunAt?.toISOString() ?? null,
    last_run_at: s.lastRunAt?.toISOString() ?? null,
  };
}
