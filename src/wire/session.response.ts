import { ApiProperty } from '@nestjs/swagger';
import { ApiNextCursor } from '../common/page-query.dto.js';
import {
  EXAMPLE_AGENT_ID,
  EXAMPLE_MESSAGE_ID,
  EXAMPLE_PROMPT,
  EXAMPLE_SCHEDULE_ID,
  EXAMPLE_SESSION_ID,
  EXAMPLE_TEXT_BLOCK_ID,
  EXAMPLE_TIMES,
  EXAMPLE_USER_ID,
} from '../docs/examples.js';
import { ChatModelConfigDto } from './chat-model-config.dto.js';
import { PERMISSION_MODES, type PermissionMode } from '../domain/schedule.js';
import { type Session, SESSION_SOURCES, type SessionSource, TASK_STATES, type TaskState } from '../domain/session.js';

// The session record of the contract (list-schedule-sessions.seed.txt), field for field.

export class TextBlockResponse {
  @ApiProperty({ example: EXAMPLE_PROMPT }) readonly text: string;
  @ApiProperty({ enum: ['text'] }) readonly type: 'text';
  @ApiProperty({ example: EXAMPLE_TEXT_BLOCK_ID }) readonly id: string;
}

export class UsageResponse {
  @ApiProperty({ type: 'integer', example: 0 }) readonly input_tokens: number;
  @ApiProperty({ type: 'integer', example: 0 }) readonly output_tokens: number;
}

export class MessageResponse {
  @ApiProperty({ description: 'Author of the message, e.g. `user`.', example: 'user' }) readonly name: string;
  @ApiProperty({ type: [TextBlockResponse] }) readonly content: TextBlockResponse[];
  @ApiProperty({ example: EXAMPLE_MESSAGE_ID }) readonly id: string;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly metadata: Record<string, unknown>;
  @ApiProperty({ example: EXAMPLE_TIMES.fired }) readonly created_at: string;
  @ApiProperty({ type: String, nullable: true, example: EXAMPLE_TIMES.fired }) readonly finished_at: string | null;
  @ApiProperty({ type: UsageResponse, nullable: true }) readonly usage: UsageResponse | null;
}

export class PermissionContextResponse {
  @ApiProperty({ enum: PERMISSION_MODES, default: 'default', example: 'dont_ask' }) readonly mode: PermissionMode;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly working_directories: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly allow_rules: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly deny_rules: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly ask_rules: Record<string, unknown>;
}

export class ReadFileCacheEntryResponse {
  @ApiProperty({ type: [String], example: ['# Support runbook', 'Escalate P1 tickets within 15 minutes.'] }) readonly lines: string[];
  @ApiProperty({ type: 'integer', example: 1772438493 }) readonly updated_at: number;
  @ApiProperty({ type: 'integer', example: 57 }) readonly bytes: number;
  @ApiProperty({ example: '/workspace/docs/runbook.md' }) readonly file_path: string;
}

export class ToolContextResponse {
  @ApiProperty({ type: 'integer', default: 100 }) readonly max_cache_files: number;
  @ApiProperty({ type: 'integer', default: 25000 }) readonly max_cache_bytes: number;
  @ApiProperty({ type: [ReadFileCacheEntryResponse] }) readonly read_file_cache: ReadFileCacheEntryResponse[];
  @ApiProperty({ type: [String], example: ['web'] }) readonly activated_groups: string[];
}

export class TaskResponse {
  @ApiProperty({ example: 'Collect yesterday’s tickets' }) readonly subject: string;
  @ApiProperty({ example: 'Every ticket opened or updated since 09:00 yesterday.' }) readonly description: string;
  @ApiProperty({ type: 'object', additionalProperties: true, example: {} }) readonly metadata: Record<string, unknown>;
  @ApiProperty({ example: EXAMPLE_TIMES.fired }) readonly created_at: string;
  @ApiProperty({ enum: TASK_STATES, default: 'pending' }) readonly state: TaskState;
  @ApiProperty({ example: 'task-1' }) readonly id: string;
  @ApiProperty({ type: String, nullable: true, example: null }) readonly owner: string | null;
  @ApiProperty({ type: [String], example: ['task-2'] }) readonly blocks: string[];
  @ApiProperty({ type: [String], example: [] }) readonly blocked_by: string[];
}

export class TasksContextResponse {
  @ApiProperty({ type: [TaskResponse] }) readonly tasks: TaskResponse[];
}

export class SessionStateResponse {
  @ApiProperty({ example: EXAMPLE_SESSION_ID }) readonly session_id: string;
  @ApiProperty({ default: '' }) readonly summary: string;
  @ApiProperty({ type: [MessageResponse] }) readonly context: MessageResponse[];
  @ApiProperty({ type: String, nullable: true, example: null }) readonly reply_id: string | null;
  @ApiProperty({ type: 'integer', default: 0 }) readonly cur_iter: number;
  @ApiProperty({ type: PermissionContextResponse }) readonly permission_context: PermissionContextResponse;
  @ApiProperty({ type: ToolContextResponse }) readonly tool_context: ToolContextResponse;
  @ApiProperty({ type: TasksContextResponse }) readonly tasks_context: TasksContextResponse;
}

export class SessionConfigResponse {
  @ApiProperty({ type: String, nullable: true, example: null }) readonly workspace_id: string | null;
  @ApiProperty({ description: 'The name of the schedule that created the session.', example: 'Weekday support digest' })
  readonly name: string;
  @ApiProperty({ type: ChatModelConfigDto }) readonly chat_model_config: ChatModelConfigDto;
  @ApiProperty({ type: ChatModelConfigDto, nullable: true, example: null }) readonly fallback_chat_model_config: ChatModelConfigDto | null;
}

export class SessionResponse {
  @ApiProperty({ example: EXAMPLE_USER_ID }) readonly user_id: string;
  @ApiProperty({ example: EXAMPLE_AGENT_ID }) readonly agent_id: string;
  @ApiProperty({ type: SessionConfigResponse }) readonly config: SessionConfigResponse;
  @ApiProperty({ example: EXAMPLE_SESSION_ID }) readonly id: string;
  @ApiProperty({ format: 'date-time', example: EXAMPLE_TIMES.fired }) readonly updated_at: string;
  @ApiProperty({ format: 'date-time', example: EXAMPLE_TIMES.fired }) readonly created_at: string;
  @ApiProperty({ enum: SESSION_SOURCES, default: 'user', example: 'schedule' }) readonly source: SessionSource;
  @ApiProperty({ type: String, nullable: true, example: EXAMPLE_SCHEDULE_ID }) readonly source_schedule_id: string | null;
  @ApiProperty({ type: String, nullable: true, example: null }) readonly team_id: string | null;
  @ApiProperty({ type: SessionStateResponse }) readonly state: SessionStateResponse;
}

export class ScheduleSessionsResponse {
  @ApiProperty({ type: [SessionResponse], description: 'Sessions triggered by the schedule, newest first.' })
  readonly sessions: SessionResponse[];
  @ApiProperty({ type: 'integer', description: 'Number of sessions the schedule triggered (all pages).', example: 1 })
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
