import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { PERMISSION_MODES, type PermissionMode } from '../../domain/schedule.js';
import { type Message, type SessionState, type Task, TASK_STATES, type TaskState } from '../../domain/session.js';
import { MaxJsonBytes } from '../../common/validators.js';
import { EXAMPLE_AGENT_ID, EXAMPLE_SESSION_ID } from '../../docs/examples.js';

// The session state the runtime writes back (PUT /runtime/sessions/{id}/state): the seed's `state`
// object (list-schedule-sessions.seed.txt), every field required, nothing else allowed, each list
// and string bounded. The request body's own limits (RUNTIME_JSON_BODY_LIMITS: 16 MiB, 50 000
// JSON values) apply first and are usually the tighter ones.

/** What one state may hold. */
export const SESSION_STATE_LIMITS = {
  /** As many as STATEFUL_SESSION_MAX_MESSAGES may be set to; the storage keeps the newest within that many and STATEFUL_SESSION_MAX_BYTES. */
  contextMessages: 100_000,
  blocksPerMessage: 100,
  /** Characters of a text block, and of the summary. */
  textChars: 100_000,
  /** Characters of ids, names and references (message, block and task ids, reply_id, owner, groups). */
  idChars: 256,
  /** Characters of a message's or task's created_at / finished_at (free-form strings in the seed). */
  timestampChars: 64,
  /** Bytes, as JSON, of each free-form object (metadata, working_directories, the rule maps). */
  objectBytes: 16 * 1024,
  curIter: 1_000_000,
  readFileCacheEntries: 1000,
  linesPerCacheEntry: 10_000,
  lineChars: 10_000,
  filePathChars: 4096,
  activatedGroups: 100,
  tasks: 1000,
  taskSubjectChars: 1000,
  taskDescriptionChars: 20_000,
  taskReferences: 1000,
  tokens: 1_000_000_000_000,
  cacheFiles: 1_000_000,
  cacheBytes: 1_000_000_000,
} as const;

const L = SESSION_STATE_LIMITS;

/** Required, but may be null: its validators run on anything but null (a missing field included). */
const Nullable = (): PropertyDecorator => ValidateIf((_object, value) => value !== null);

/** A required nested object of class `type`. */
const Nested = (type: () => new () => object): PropertyDecorator =>
  applyDecorators(IsDefined(), IsObject(), ValidateNested(), Type(type));

/** A required list of at most `max` objects of class `type`. */
const NestedList = (type: () => new () => object, max: number): PropertyDecorator =>
  applyDecorators(IsArray(), ArrayMaxSize(max), ValidateNested({ each: true }), Type(type));

/** A required list of at most `max` strings of at most `chars` characters. */
const StringList = (max: number, chars: number): PropertyDecorator =>
  applyDecorators(IsArray(), ArrayMaxSize(max), IsString({ each: true }), MaxLength(chars, { each: true }));

/** A required free-form JSON object of at most `objectBytes`. */
const FreeFormObject = (): PropertyDecorator => applyDecorators(IsObject(), MaxJsonBytes(L.objectBytes));

const freeForm = (description: string) =>
  ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: `${description} At most ${L.objectBytes} bytes as JSON.`,
    example: {},
  });

export class TextBlockDto {
  @ApiProperty({ maxLength: L.textChars, example: 'Here is the summary of yesterday’s tickets: …' })
  @IsString()
  @MaxLength(L.textChars)
  readonly text: string;

  @ApiProperty({ enum: ['text'] })
  @IsIn(['text'])
  readonly type: 'text';

  @ApiProperty({ minLength: 1, maxLength: L.idChars, example: '019cad9a-4b10-7a3e-8c5d-1e2f3a4b5c6d' })
  @IsString()
  @Length(1, L.idChars)
  readonly id: string;
}

export class UsageDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.tokens, example: 1834 })
  @IsInt()
  @Min(0)
  @Max(L.tokens)
  readonly input_tokens: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.tokens, example: 412 })
  @IsInt()
  @Min(0)
  @Max(L.tokens)
  readonly output_tokens: number;
}

export class MessageDto {
  @ApiProperty({
    description: 'Author of the message, e.g. `user` or the agent’s name.',
    minLength: 1,
    maxLength: L.idChars,
    example: EXAMPLE_AGENT_ID,
  })
  @IsString()
  @Length(1, L.idChars)
  readonly name: string;

  @ApiProperty({ type: [TextBlockDto], maxItems: L.blocksPerMessage })
  @NestedList(() => TextBlockDto, L.blocksPerMessage)
  readonly content: TextBlockDto[];

  @ApiProperty({ minLength: 1, maxLength: L.idChars, example: '019cad9a-4b10-7a3e-8c5d-2f3a4b5c6d7e' })
  @IsString()
  @Length(1, L.idChars)
  readonly id: string;

  @freeForm('Free-form metadata of the message.')
  @FreeFormObject()
  readonly metadata: Record<string, unknown>;

  @ApiProperty({ maxLength: L.timestampChars, example: '2026-04-01T09:00:00.000Z' })
  @IsString()
  @MaxLength(L.timestampChars)
  readonly created_at: string;

  @ApiProperty({ type: String, nullable: true, maxLength: L.timestampChars, example: '2026-04-01T09:00:07.000Z' })
  @Nullable()
  @IsString()
  @MaxLength(L.timestampChars)
  readonly finished_at: string | null;

  @ApiProperty({ type: UsageDto, nullable: true })
  @Nullable()
  @Nested(() => UsageDto)
  readonly usage: UsageDto | null;
}

export class PermissionContextDto {
  @ApiProperty({ enum: PERMISSION_MODES, example: 'dont_ask' })
  @IsIn(PERMISSION_MODES)
  readonly mode: PermissionMode;

  @freeForm('Working directories the agent may use.')
  @FreeFormObject()
  readonly working_directories: Record<string, unknown>;

  @freeForm('Tool calls allowed without asking.')
  @FreeFormObject()
  readonly allow_rules: Record<string, unknown>;

  @freeForm('Tool calls refused.')
  @FreeFormObject()
  readonly deny_rules: Record<string, unknown>;

  @freeForm('Tool calls that need the user’s approval.')
  @FreeFormObject()
  readonly ask_rules: Record<string, unknown>;
}

export class ReadFileCacheEntryDto {
  @ApiProperty({
    type: [String],
    maxItems: L.linesPerCacheEntry,
    description: `Lines of at most ${L.lineChars} characters.`,
    example: ['# Support runbook', 'Escalate P1 tickets within 15 minutes.'],
  })
  @StringList(L.linesPerCacheEntry, L.lineChars)
  readonly lines: string[];

  @ApiProperty({ description: 'When the entry was read (a Unix time).', minimum: 0, example: 1772438493 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  readonly updated_at: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.cacheBytes, example: 57 })
  @IsInt()
  @Min(0)
  @Max(L.cacheBytes)
  readonly bytes: number;

  @ApiProperty({ minLength: 1, maxLength: L.filePathChars, example: '/workspace/docs/runbook.md' })
  @IsString()
  @Length(1, L.filePathChars)
  readonly file_path: string;
}

export class ToolContextDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.cacheFiles, example: 100 })
  @IsInt()
  @Min(0)
  @Max(L.cacheFiles)
  readonly max_cache_files: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.cacheBytes, example: 25000 })
  @IsInt()
  @Min(0)
  @Max(L.cacheBytes)
  readonly max_cache_bytes: number;

  @ApiProperty({ type: [ReadFileCacheEntryDto], maxItems: L.readFileCacheEntries })
  @NestedList(() => ReadFileCacheEntryDto, L.readFileCacheEntries)
  readonly read_file_cache: ReadFileCacheEntryDto[];

  @ApiProperty({
    type: [String],
    maxItems: L.activatedGroups,
    description: `Names of at most ${L.idChars} characters.`,
    example: ['web'],
  })
  @StringList(L.activatedGroups, L.idChars)
  readonly activated_groups: string[];
}

export class TaskDto {
  @ApiProperty({ maxLength: L.taskSubjectChars, example: 'Collect yesterday’s tickets' })
  @IsString()
  @MaxLength(L.taskSubjectChars)
  readonly subject: string;

  @ApiProperty({ maxLength: L.taskDescriptionChars, example: 'Every ticket opened or updated since 09:00 yesterday.' })
  @IsString()
  @MaxLength(L.taskDescriptionChars)
  readonly description: string;

  @freeForm('Free-form metadata of the task.')
  @FreeFormObject()
  readonly metadata: Record<string, unknown>;

  @ApiProperty({ maxLength: L.timestampChars, example: '2026-03-02T08:11:40.000Z' })
  @IsString()
  @MaxLength(L.timestampChars)
  readonly created_at: string;

  @ApiProperty({ enum: TASK_STATES, example: 'completed' })
  @IsIn(TASK_STATES)
  readonly state: TaskState;

  @ApiProperty({ minLength: 1, maxLength: L.idChars, example: 'task-1' })
  @IsString()
  @Length(1, L.idChars)
  readonly id: string;

  @ApiProperty({ type: String, nullable: true, maxLength: L.idChars, example: EXAMPLE_AGENT_ID })
  @Nullable()
  @IsString()
  @MaxLength(L.idChars)
  readonly owner: string | null;

  @ApiProperty({ type: [String], maxItems: L.taskReferences, description: 'IDs of the tasks this one blocks.', example: ['task-2'] })
  @StringList(L.taskReferences, L.idChars)
  readonly blocks: string[];

  @ApiProperty({ type: [String], maxItems: L.taskReferences, description: 'IDs of the tasks that block this one.', example: [] })
  @StringList(L.taskReferences, L.idChars)
  readonly blocked_by: string[];
}

export class TasksContextDto {
  @ApiProperty({ type: [TaskDto], maxItems: L.tasks })
  @NestedList(() => TaskDto, L.tasks)
  readonly tasks: TaskDto[];
}

export class SessionStateDto {
  @ApiProperty({
    description: 'The session this state belongs to: the `session_id` of the path.',
    minLength: 1,
    maxLength: 128,
    example: EXAMPLE_SESSION_ID,
  })
  @IsString()
  @Length(1, 128)
  readonly session_id: string;

  @ApiProperty({ maxLength: L.textChars, example: 'Posted the digest of 14 tickets to #support.' })
  @IsString()
  @MaxLength(L.textChars)
  readonly summary: string;

  @ApiProperty({ type: [MessageDto], maxItems: L.contextMessages, description: 'The conversation, oldest first.' })
  @NestedList(() => MessageDto, L.contextMessages)
  readonly context: MessageDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: L.idChars,
    description: 'The message the agent is replying with.',
    example: '019cad9a-4b10-7a3e-8c5d-2f3a4b5c6d7e',
  })
  @Nullable()
  @IsString()
  @MaxLength(L.idChars)
  readonly reply_id: string | null;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: L.curIter, example: 3 })
  @IsInt()
  @Min(0)
  @Max(L.curIter)
  readonly cur_iter: number;

  @ApiProperty({ type: PermissionContextDto })
  @Nested(() => PermissionContextDto)
  readonly permission_context: PermissionContextDto;

  @ApiProperty({ type: ToolContextDto })
  @Nested(() => ToolContextDto)
  readonly tool_context: ToolContextDto;

  @ApiProperty({ type: TasksContextDto })
  @Nested(() => TasksContextDto)
  readonly tasks_context: TasksContextDto;
}

/** The domain's state from a validated body: plain objects, field for field, nothing else. */
export function toSessionState(dto: SessionStateDto): SessionState {
  return {
    session_id: dto.session_id,
    summary: dto.summary,
    context: dto.context.map(toMessage),
    reply_id: dto.reply_id,
    cur_iter: dto.cur_iter,
    permission_context: {
      mode: dto.permission_context.mode,
      working_directories: dto.permission_context.working_directories,
      allow_rules: dto.permission_context.allow_rules,
      deny_rules: dto.permission_context.deny_rules,
      ask_rules: dto.permission_context.ask_rules,
    },
    tool_context: {
      max_cache_files: dto.tool_context.max_cache_files,
      max_cache_bytes: dto.tool_context.max_cache_bytes,
      read_file_cache: dto.tool_context.read_file_cache.map((e) => ({
        lines: [...e.lines],
        updated_at: e.updated_at,
        bytes: e.bytes,
        file_path: e.file_path,
      })),
      activated_groups: [...dto.tool_context.activated_groups],
    },
    tasks_context: { tasks: dto.tasks_context.tasks.map(toTask) },
  };
}

function toMessage(m: MessageDto): Message {
  return {
    name: m.name,
    content: m.content.map((b) => ({ type: b.type, text: b.text, id: b.id })),
    id: m.id,
    metadata: m.metadata,
    created_at: m.created_at,
    finished_at: m.finished_at,
    usage: m.usage && { input_tokens: m.usage.input_tokens, output_tokens: m.usage.output_tokens },
  };
}

function toTask(t: TaskDto): Task {
  return {
    subject: t.subject,
    description: t.description,
    metadata: t.metadata,
    created_at: t.created_at,
    state: t.state,
    id: t.id,
    owner: t.owner,
    blocks: [...t.blocks],
    blocked_by: [...t.blocked_by],
  };
}
