import { ApiProperty } from '@nestjs/swagger';
import { ApiNextCursor } from '../../common/page-query.dto.js';
import { ChatModelConfigDto } from '../../schedules/dto/chat-model-config.dto.js';
import { PERMISSION_MODES, type PermissionMode } from '../../domain/schedule.js';
import { type Session, SESSION_SOURCES, type SessionSource, TASK_STATES, type TaskState } from '../../domain/session.js';

// The session record of the contract (list-schedule-sessions.seed.txt), field for field.

export class TextBlockResponse {
  @ApiProperty() readonly text: string;
  @ApiProperty({ enum: ['text'] }) readonly type: 'text';
  @ApiProperty() readonly id: string;
}

export class UsageResponse {
  @ApiProperty({ type: 'integer' }) readonly input_tokens: number;
  @ApiProperty({ type: 'integer' }) readonly output_tokens: number;
}

export class MessageResponse {
  @ApiProperty({ description: 'Author of the message, e.g. `user`.' }) readonly name: string;
  @ApiProperty({ type: [TextBlockResponse] }) readonly content: TextBlockResponse[];
  @ApiProperty() readonly id: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly metadata: Record<string, unknown>;
  @ApiProperty() readonly created_at: string;
  @ApiProperty({ type: String, nullable: true }) readonly finished_at: string | null;
  @ApiProperty({ type: UsageResponse, nullable: true }) readonly usage: UsageResponse | null;
}

export class PermissionContextResponse {
  @ApiProperty({ enum: PERMISSION_MODES, default: 'default' }) readonly mode: PermissionMode;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly working_directories: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly allow_rules: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly deny_rules: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly ask_rules: Record<string, unknown>;
}

export class ReadFileCacheEntryResponse {
  @ApiProperty({ type: [String] }) readonly lines: string[];
  @ApiProperty({ type: 'integer' }) readonly updated_at: number;
  @ApiProperty({ type: 'integer' }) readonly bytes: number;
  @ApiProperty() readonly file_path: string;
}

export class ToolContextResponse {
  @ApiProperty({ type: 'integer', default: 100 }) readonly max_cache_files: number;
  @ApiProperty({ type: 'integer', default: 25000 }) readonly max_cache_bytes: number;
  @ApiProperty({ type: [ReadFileCacheEntryResponse] }) readonly read_file_cache: ReadFileCacheEntryResponse[];
  @ApiProperty({ type: [String] }) readonly activated_groups: string[];
}

export class TaskResponse {
  @ApiProperty() readonly subject: string;
  @ApiProperty() readonly description: string;
  @ApiProperty({ type: 'object', additionalProperties: true }) readonly metadata: Record<string, unknown>;
  @ApiProperty() readonly created_at: string;
  @ApiProperty({ enum: TASK_STATES, default: 'pending' }) readonly state: TaskState;
  @ApiProperty() readonly id: string;
  @ApiProperty({ type: String, nullable: true }) readonly owner: string | null;
  @ApiProperty({ type: [String] }) readonly blocks: string[];
  @ApiProperty({ type: [String] }) readonly blocked_by: string[];
}

export class TasksContextResponse {
  @ApiProperty({ type: [TaskResponse] }) readonly tasks: TaskResponse[];
}

export class SessionStateResponse {
  @ApiProperty() readonly session_id: string;
  @ApiProperty({ default: '' }) readonly summary: string;
  @ApiProperty({ type: [MessageResponse] }) readonly context: MessageResponse[];
  @ApiProperty({ type: String, nullable: true }) readonly reply_id: string | null;
  @ApiProperty({ type: 'integer', default: 0 }) readonly cur_iter: number;
  @ApiProperty({ type: PermissionContextResponse }) readonly permission_context: PermissionContextResponse;
  @ApiProperty({ type: ToolContextResponse }) readonly tool_context: ToolContextResponse;
  @ApiProperty({ type: TasksContextResponse }) readonly tasks_context: TasksContextResponse;
}

export class SessionConfigResponse {
  @ApiProperty({ type: String, nullable: true }) readonly workspace_id: string | null;
  @ApiProperty() readonly name: string;
  @ApiProperty({ type: ChatModelConfigDto }) readonly chat_model_config: ChatModelConfigDto;
  @ApiProperty({ type: ChatModelConfigDto, nullable: true }) readonly fallback_chat_model_config: ChatModelConfigDto | null;
}

export class SessionResponse {
  @ApiProperty() readonly user_id: string;
  @ApiProperty() readonly agent_id: string;
  @ApiProperty({ type: SessionConfigResponse }) readonly config: SessionConfigResponse;
  @ApiProperty() readonly id: string;
  @ApiProperty({ format: 'date-time' }) readonly updated_at: string;
  @ApiProperty({ format: 'date-time' }) readonly created_at: string;
  @ApiProperty({ enum: SESSION_SOURCES, default: 'user' }) readonly source: SessionSource;
  @ApiProperty({ type: String, nullable: true }) readonly source_schedule_id: string | null;
  @ApiProperty({ type: String, nullable: true }) readonly team_id: string | null;
  @ApiProperty({ type: SessionStateResponse }) readonly state: SessionStateResponse;
}

export class ScheduleSessionsResponse {
  @ApiProperty({ type: [SessionResponse], description: 'Sessions triggered by the schedule, newest first.' })
  readonly sessions: SessionResponse[];
  @ApiProperty({ type: 'integer', description: 'Number of sessions the schedule triggered (all pages).' })
  readonly total: number;
  @ApiNextCursor() readonly next_cursor?: string | null;
}

export function toSessionResponse(s: Session): SessionResponse {
  return {
    user_id: s.userId,
    agent_id: s.agentId,
    config: s.config,
    id: s.id,
    updated_at: s.updatedAt.toISOString(),
    created_at: s.createdAt.toISOString(),
    source: s.source,
    source_schedule_id: s.sourceScheduleId,
    team_id: s.teamId,
    state: s.state,
  };
}
