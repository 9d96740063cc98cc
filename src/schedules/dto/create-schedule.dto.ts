import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsObject,
  IsString,
  IsTimeZone,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  DEFAULT_OVERLAP_POLICY,
  DEFAULT_RUN_TIMEOUT_SECONDS,
  HISTORY_LIMIT_RANGE,
  MAX_PAUSE_NOTE_CHARS,
  MAX_RUNS_RANGE,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  PAUSE_AFTER_FAILURES_RANGE,
  PERMISSION_MODES,
  type PermissionMode,
  RUN_TIMEOUT_SECONDS_RANGE,
  EVERY_SECONDS_MAX,
  JITTER_SECONDS_RANGE,
} from '../../domain/schedule.js';
import { MAX_LABELS } from '../../domain/labels.js';
import { Omittable } from '../../common/validators.js';
import { IsCronExpression, IsIsoInstant, IsLabels } from './schedule.validators.js';
import { BudgetDto } from '../../wire/budget.dto.js';
import { ChatModelConfigDto } from '../../wire/chat-model-config.dto.js';
import { EXAMPLE_AGENT_ID, EXAMPLE_CRON, EXAMPLE_DESCRIPTION, EXAMPLE_TIMEZONE } from '../../docs/examples.js';

/**
 * What an omitted field is on create, said in its description rather than as the schema's
 * `default`: generated clients make a field with a default required, and on PATCH (whose schema
 * these fields also make) an omitted field keeps its value.
 */
const onCreate = (value: unknown) => ` Omitted on create: \`${JSON.stringify(value)}\`.`;

/** Optional and nullable: null clears the field (the activation window's ends, the history limit). */
const nullable = ValidateIf((_object, value) => value !== null && value !== undefined);

export class CreateScheduleDto {
  @ApiProperty({ description: 'Display name of the schedule.', minLength: 1, maxLength: 256, example: 'Weekday support digest' })
  @IsString()
  @Length(1, 256)
  readonly name: string;

  @ApiPropertyOptional({
    description: 'The task: sent to the agent as `<scheduled-task>\\n{description}\\n</scheduled-task>` on each fire.' + onCreate(''),
    maxLength: 20000,
    example: EXAMPLE_DESCRIPTION,
  })
  @Omittable()
  @IsString()
  @MaxLength(20000)
  readonly description?: string;

  @ApiPropertyOptional({
    description:
      'When it fires, one kind of three (exactly one of `cron_expression`, `at`, `every_seconds`; a PATCH that gives ' +
      'another kind switches to it): standard cron, 5 fields (minute hour day-of-month month day-of-week) or 6 with ' +
      'seconds first, read in `timezone`. Day-of-week 0 and 7 are Sunday, so `0 9 * * 1-5` is Monday to Friday at 09:00.',
    type: String,
    nullable: true,
    maxLength: 256,
    example: EXAMPLE_CRON,
  })
  @nullable
  @IsString()
  @MaxLength(256)
  @IsCronExpression()
  readonly cron_expression?: string | null;

  @ApiPropertyOptional({
    description: 'A one-off: the instant (ISO 8601 with offset, in the future) of its one fire; then it is done (`paused_reason: "completed"`).',
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
  })
  @nullable
  @IsIsoInstant()
  readonly at?: string | null;

  @ApiPropertyOptional({
    description: `An interval: fires every so many seconds (at least MIN_FIRE_INTERVAL_SECONDS, at most ${EVERY_SECONDS_MAX}), at \`anchor_at\` + k × the interval, in real time (DST does not move it).`,
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: EVERY_SECONDS_MAX,
    example: null,
  })
  @nullable
  @IsInt()
  @Min(1)
  @Max(EVERY_SECONDS_MAX)
  readonly every_seconds?: number | null;

  @ApiPropertyOptional({
    description: "An interval's anchor (with `every_seconds` only). Omitted: when the interval was set.",
    type: String,
    format: 'date-time',
    nullable: true,
    example: null,
  })
  @nullable
  @IsIsoInstant()
  readonly anchor_at?: string | null;

  @ApiPropertyOptional({
    description:
      `Moves every fire time later by a fixed offset of the schedule's own, derived from its id, below this many seconds (0–${JITTER_SECONDS_RANGE.max}): ` +
      'schedules on one time spread out; `next-runs` shows the real times.' +
      onCreate(0),
    type: 'integer',
    minimum: JITTER_SECONDS_RANGE.min,
    maximum: JITTER_SECONDS_RANGE.max,
    example: 0,
  })
  @Omittable()
  @IsInt()
  @Min(JITTER_SECONDS_RANGE.min)
  @Max(JITTER_SECONDS_RANGE.max)
  readonly jitter_seconds?: number;

  @ApiPropertyOptional({ description: 'IANA time zone the cron expression is read in.' + onCreate('UTC'), example: EXAMPLE_TIMEZONE })
  @Omittable()
  @IsString()
  @MaxLength(64)
  @IsTimeZone({ message: 'timezone must be an IANA time zone, e.g. Europe/Berlin' })
  readonly timezone?: string;

  @ApiProperty({ description: 'The agent each fire runs.', minLength: 1, maxLength: 256, example: EXAMPLE_AGENT_ID })
  @IsString()
  @Length(1, 256)
  readonly agent_id: string;

  @ApiProperty({ description: 'The model the agent runs with.', type: ChatModelConfigDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => ChatModelConfigDto)
  readonly chat_model_config: ChatModelConfigDto;

  @ApiPropertyOptional({ description: 'Disabled schedules never fire and cannot be run by hand.' + onCreate(true), example: true })
  @Omittable()
  @IsBoolean()
  readonly enabled?: boolean;

  @ApiPropertyOptional({
    description:
      'When true, every fire appends to one session (`{schedule_id}_stateful`); otherwise each fire gets a fresh session.' + onCreate(false),
    example: false,
  })
  @Omittable()
  @IsBoolean()
  readonly stateful?: boolean;

  @ApiPropertyOptional({
    description: 'Permission mode of the sessions this schedule creates.' + onCreate('dont_ask'),
    enum: PERMISSION_MODES,
    example: 'dont_ask',
  })
  @Omittable()
  @IsIn(PERMISSION_MODES)
  readonly permission_mode?: PermissionMode;

  @ApiPropertyOptional({
    description:
      'Fires missed by at most this many seconds (service down or busy) coalesce into one late fire; ' +
      'older ones are recorded as missed runs and not fired.' +
      onCreate(300),
    minimum: 1,
    maximum: 86400,
    example: 300,
  })
  @Omittable()
  @IsInt()
  @Min(1)
  @Max(86400)
  readonly catchup_window_seconds?: number;

  @ApiPropertyOptional({
    description:
      'What a fire does while a run of this schedule is still active (pending, dispatched or running, not timed out), ' +
      'when fires are dispatched to an agent runtime: `skip` records a skipped run (a manual run is refused with 409); ' +
      '`buffer_one` lets one fire wait and dispatches it when the active run ends (later ones are skipped); ' +
      '`allow` always fires; `replace` cancels the active run (and a waiting one) as `POST …/cancel` does, and fires. ' +
      'A stateful schedule cannot `allow` (its runs share one session). ' +
      'Without dispatch no run stays active, so every policy fires.' +
      onCreate(DEFAULT_OVERLAP_POLICY),
    enum: OVERLAP_POLICIES,
    example: DEFAULT_OVERLAP_POLICY,
  })
  @Omittable()
  @IsIn(OVERLAP_POLICIES)
  readonly overlap_policy?: OverlapPolicy;

  @ApiPropertyOptional({
    description:
      'A dispatched run without a final status (`succeeded` or `failed`) this many seconds after it was dispatched ' +
      '(or released from waiting) becomes `timed_out`. A change applies to runs dispatched afterwards.' +
      onCreate(DEFAULT_RUN_TIMEOUT_SECONDS),
    minimum: RUN_TIMEOUT_SECONDS_RANGE.min,
    maximum: RUN_TIMEOUT_SECONDS_RANGE.max,
    example: DEFAULT_RUN_TIMEOUT_SECONDS,
  })
  @Omittable()
  @IsInt()
  @Min(RUN_TIMEOUT_SECONDS_RANGE.min)
  @Max(RUN_TIMEOUT_SECONDS_RANGE.max)
  readonly run_timeout_seconds?: number;

  @ApiPropertyOptional({
    description:
      'Keep only the newest this many sessions and runs of this schedule; older ones are deleted in the background ' +
      '(never a stateful schedule\'s session, never an active run). null keeps all.' +
      onCreate(null),
    type: 'integer',
    minimum: HISTORY_LIMIT_RANGE.min,
    maximum: HISTORY_LIMIT_RANGE.max,
    nullable: true,
    example: 100,
  })
  @nullable
  @IsInt()
  @Min(HISTORY_LIMIT_RANGE.min)
  @Max(HISTORY_LIMIT_RANGE.max)
  readonly history_limit?: number | null;

  @ApiPropertyOptional({
    description: 'Start of the activation window: an instant (ISO 8601 with offset), stored and returned in UTC.',
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2026-01-01T00:00:00+08:00',
  })
  @nullable
  @IsIsoInstant()
  readonly started_at?: string | null;

  @ApiPropertyOptional({
    description: 'End of the activation window, after `started_at`: an instant, stored and returned in UTC.',
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2030-12-31T23:59:59+08:00',
  })
  @nullable
  @IsIsoInstant()
  readonly ended_at?: string | null;

  @ApiPropertyOptional({
    description:
      'The failure policy: once this many runs in a row end `failed` or `timed_out`, the schedule is disabled with ' +
      '`paused_reason: "consecutive_failures"`. A `succeeded` run starts the count again; `skipped` and `missed` runs ' +
      'do not count; enabling the schedule clears it. null never pauses.' +
      onCreate(null),
    type: 'integer',
    minimum: PAUSE_AFTER_FAILURES_RANGE.min,
    maximum: PAUSE_AFTER_FAILURES_RANGE.max,
    nullable: true,
    example: 3,
  })
  @nullable
  @IsInt()
  @Min(PAUSE_AFTER_FAILURES_RANGE.min)
  @Max(PAUSE_AFTER_FAILURES_RANGE.max)
  readonly pause_after_failures?: number | null;

  @ApiPropertyOptional({
    description:
      'Done after this many fires (by cron, catch-up or `POST /run`; skipped and missed runs are not fires): the ' +
      'schedule is then disabled with `paused_reason: "max_runs_reached"`. Lowered to the fires so far, it is done at ' +
      'once. null never.' +
      onCreate(null),
    type: 'integer',
    minimum: MAX_RUNS_RANGE.min,
    maximum: MAX_RUNS_RANGE.max,
    nullable: true,
    example: 10,
  })
  @nullable
  @IsInt()
  @Min(MAX_RUNS_RANGE.min)
  @Max(MAX_RUNS_RANGE.max)
  readonly max_runs?: number | null;

  @ApiPropertyOptional({
    type: BudgetDto,
    nullable: true,
    description:
      'What the schedule may consume per calendar period of its time zone: fires, tokens, cost (at least one limit). ' +
      'While the period has reached a limit, each fire time is recorded as a `skipped` run with ' +
      '`skip_reason: "budget_exhausted"` and `POST /run` answers 409; the next period fires again. Tokens and cost ' +
      'count when the runtime reports them, so runs in flight can overshoot those limits by what they consume. ' +
      'null: no budget.' +
      onCreate(null),
  })
  @nullable
  @IsObject()
  @ValidateNested()
  @Type(() => BudgetDto)
  readonly budget?: BudgetDto | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    maxProperties: MAX_LABELS,
    description:
      `Up to ${MAX_LABELS} \`key: value\` pairs in Kubernetes' label syntax (a key: an optional DNS-subdomain prefix and \`/\`, ` +
      'then up to 63 characters `[A-Za-z0-9-_.]`, alphanumeric at both ends; a value: empty or the same), to find schedules ' +
      'with `GET /schedule?label=…` and act on them with `POST /schedule/bulk`. A PATCH replaces them whole.' +
      onCreate({}),
    example: { team: 'support', env: 'prod' },
  })
  @Omittable()
  @IsLabels()
  readonly labels?: Record<string, string>;

  @ApiPropertyOptional({
    description:
      "The user's note on a pause (why, until when): given with `enabled: false`, or while the schedule is disabled " +
      '(422 on an enabled schedule); enabling the schedule clears it. null clears it.',
    type: String,
    maxLength: MAX_PAUSE_NOTE_CHARS,
    nullable: true,
    // null: the example body (Swagger UI's "Try it out") creates an enabled schedule, which takes no note.
    example: null,
  })
  @nullable
  @IsString()
  @MaxLength(MAX_PAUSE_NOTE_CHARS)
  readonly pause_note?: string | null;
}
