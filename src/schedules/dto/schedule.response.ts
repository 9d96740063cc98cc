import { ApiProperty } from '@nestjs/swagger';
import { PERMISSION_MODES, PermissionMode, Schedule, SCHEDULE_SOURCES, ScheduleSource } from '../schedule.model';
import { ChatModelConfigDto } from './chat-model-config.dto';

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
}

export class ScheduleResponse {
  @ApiProperty() readonly id: string;
  @ApiProperty() readonly user_id: string;
  @ApiProperty() readonly agent_id: string;
  @ApiProperty({ format: 'date-time' }) readonly created_at: string;
  @ApiProperty({ format: 'date-time' }) readonly updated_at: string;
  @ApiProperty({ type: ScheduleDataResponse }) readonly data: ScheduleDataResponse;
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
    },
  };
}
