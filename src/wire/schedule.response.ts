import { ApiProperty } from '@nestjs/swagger';
import { ApiNextCursor } from '../common/page-query.dto.js';
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
import { budgetExhausted, periodResetsAt, periodUseAt } from '../domain/budget.js';
import { BudgetDto } from './budget.dto.js';
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
  @ApiProperty({ type: String, nullable: true, description: 'Its kind is one of three: a cron expression, …', example: EXAMPLE_CRON })
  readonly cron_expression: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: '… a one-off instant, …', example: null })
  readonly at: string | null;
  @ApiProperty({ type: 'integer', nullable: true, description: '… or an interval in seconds, from `anchor_at`.', example: null })
  readonly every_seconds: number | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null }) readonly anchor_at: string | null;
  @ApiProperty({ type: 'integer', description: 'Each fire time moves later by an offset of its own below this (seconds).', example: 0 })
  readonly jitter_seconds: number;
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
      '`pause_after_failures` was reached), `max_runs_reached` (done after `max_runs` fires), `completed` (a one-off that ' +
      'has had its fire time), `ended` (enabled, but its ' +
      'activation window has closed); null while it fires.',
    example: null,
  })
  readonly paused_reason: PauseReason | null;
  @ApiProperty({ type: String, nullable: true, description: "The user's note on the pause; null when none.", example: null })
  readonly pause_note: string | null;
  @ApiProperty({ type: BudgetDto, nullable: true, description: 'What it may consume per period; null: no budget.' })
  readonly budget: BudgetDto | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Its labels; `{}` when none.', example: { team: 'support' } })
  readonly labels: Record<string, string>;
  @ApiProperty({ type: String, nullable: true, description: "The caller's key for it (`PUT /schedule/by-key/{key}`); null when it has none.", example: null })
  readonly key: string | null;
  @ApiProperty({ type: [String], description: 'Upcoming fire times the caller skipped, earliest first.', example: [] })
  readonly skipped_fire_times: string[];
}

/** What the schedule consumed in its budget's current period. */
export class BudgetPeriodResponse {
  @ApiProperty({ format: 'date-time', example: '2026-01-15T00:00:00.000Z' }) readonly starts_at: string;
  @ApiProperty({ format: 'date-time', description: 'When the next period starts, afresh.', example: '2026-01-16T00:00:00.000Z' })
  readonly resets_at: string;
  @ApiProperty({ type: 'integer', description: 'Fires in this period.', example: 3 }) readonly runs: number;
  @ApiProperty({ type: 'integer', example: 12000 }) readonly input_tokens: number;
  @ApiProperty({ type: 'integer', example: 3400 }) readonly output_tokens: number;
  @ApiProperty({ type: 'number', example: 0.42 }) readonly cost_usd: number;
  @ApiProperty({ description: 'Whether a limit is reached: fire times are skipped until `resets_at`.', example: false })
  readonly exhausted: boolean;
}

/** The schedule's health (see ScheduleStats): kept as its runs change, so reading it scans no run. */
export class ScheduleStatsResponse {
  @ApiProperty({ type: 'integer', description: 'Fires so far (by cron, catch-up or `POST /run`).', example: 42 }) readonly fires: number;
  @ApiProperty({ type: 'integer', example: 39 }) readonly succeeded: number;
  @ApiProperty({ type: 'integer', example: 2 }) readonly failed: number;
  @ApiProperty({ type: 'integer', example: 1 }) readonly timed_out: number;
  @ApiProperty({ type: 'integer', example: 0 }) readonly skipped: number;
  @ApiProperty({ type: 'integer', example: 0 }) readonly missed: number;
  @ApiProperty({ type: 'integer', description: 'Runs in a row that ended `failed` or `timed_out`.', example: 0 })
  readonly consecutive_failures: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: EXAMPLE_TIMES.fired }) readonly last_success_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null }) readonly last_failure_at: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The error of the last run that failed or timed out.', example: null })
  readonly last_error: string | null;
  @ApiProperty({ type: BudgetPeriodResponse, nullable: true, description: "The budget's current period; null without a budget." })
  readonly period: BudgetPeriodResponse | null;
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
  @ApiProperty({ type: ScheduleStatsResponse }) readonly stats: ScheduleStatsResponse;
}

export class ScheduleListResponse {
  @ApiProperty({ type: [ScheduleResponse], description: "The caller's schedules that pass the filters, newest first." })
  readonly schedules: ScheduleResponse[];
  @ApiProperty({ type: 'integer', description: 'Number of schedules that pass the filters (all pages).', example: 1 }) readonly total: number;
  @ApiNextCursor() readonly next_cursor?: string | null;
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

/**
 * The schedule as the API shows it. With `now`, its budget period is the one `now` falls in (a
 * period that has ended shows as the next, with nothing consumed); without, as stored.
 */
export function toScheduleResponse(s: Schedule, now: Date | null = null): ScheduleResponse {
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
      at: s.fireAt?.toISOString() ?? null,
      every_seconds: s.everySeconds,
      anchor_at: s.anchorAt?.toISOString() ?? null,
      jitter_seconds: s.jitterSeconds,
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
      budget: s.budget && {
        period: s.budget.period,
        max_runs: s.budget.maxRuns,
        max_tokens: s.budget.maxTokens,
        max_cost_usd: s.budget.maxCostUsd,
      },
      labels: { ...s.labels },
      key: s.key,
      skipped_fire_times: s.skippedFireTimes.map((d) => d.toISOString()),
    },
    next_run_at: s.nextRunAt?.toISOString() ?? null,
    last_run_at: s.lastRunAt?.toISOString() ?? null,
    stats: toStatsResponse(s, now),
  };
}

function toStatsResponse(s: Schedule, now: Date | null): ScheduleStatsResponse {
  const { stats } = s;
  return {
    fires: s.fireCount,
    succeeded: stats.succeeded,
    failed: stats.failed,
    timed_out: stats.timedOut,
    skipped: stats.skipped,
    missed: stats.missed,
    consecutive_failures: s.consecutiveFailures,
    last_success_at: stats.lastSuccessAt?.toISOString() ?? null,
    last_failure_at: stats.lastFailureAt?.toISOString() ?? null,
    last_error: stats.lastError,
    period: toPeriodResponse(s, now),
  };
}

function toPeriodResponse({ budget, timezone, stats }: Schedule, now: Date | null): BudgetPeriodResponse | null {
  if (!budget) return null;
  const use = now ? periodUseAt(stats.period, budget, timezone, now) : stats.period;
  if (!use) return null;
  return {
    starts_at: use.startsAt.toISOString(),
    resets_at: periodResetsAt(budget.period, timezone, use.startsAt).toISOString(),
    runs: use.runs,
    input_tokens: use.inputTokens,
    output_tokens: use.outputTokens,
    cost_usd: use.costUsd,
    exhausted: budgetExhausted(budget, use),
  };
}
