import { ApiProperty } from '@nestjs/swagger';
import { ApiNextCursor } from '../common/page-query.dto.js';
import { RunOverridesDto, toRunOverridesResponse } from './run-overrides.dto.js';
import { EXAMPLE_RUN_ID, EXAMPLE_SCHEDULE_ID, EXAMPLE_SESSION_ID, EXAMPLE_TIMES } from '../docs/examples.js';
import {
  type DispatchAttempt,
  type Run,
  RUN_STATUSES,
  RUN_TRIGGERS,
  type RunStatus,
  type RunTrigger,
  type RunWithAttempts,
  SKIP_REASONS,
  type SkipReason,
} from '../domain/run.js';

/** What a run consumed, as its runtime reported it. */
export class RunUsageResponse {
  @ApiProperty({ type: 'integer', description: 'Tokens the model read.', example: 1200 }) readonly input_tokens: number;
  @ApiProperty({ type: 'integer', description: 'Tokens the model wrote.', example: 340 }) readonly output_tokens: number;
  @ApiProperty({ type: Number, nullable: true, description: 'What the run cost, in US dollars; null when the runtime did not say.', example: 0.0123 })
  readonly cost_usd: number | null;
}

export class RunResponse {
  @ApiProperty({ example: EXAMPLE_RUN_ID }) readonly id: string;
  @ApiProperty({ example: EXAMPLE_SCHEDULE_ID }) readonly schedule_id: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The session the fire created or appended to; null for missed and skipped runs.',
    example: EXAMPLE_SESSION_ID,
  })
  readonly session_id: string | null;
  @ApiProperty({
    enum: RUN_TRIGGERS,
    description: '`cron` on time, `catchup` for fires coalesced after downtime, `manual` for POST /run.',
    example: 'manual',
  })
  readonly trigger: RunTrigger;
  @ApiProperty({
    format: 'date-time',
    description: 'The cron time this run is for (for a manual run: when it was asked for).',
    example: EXAMPLE_TIMES.fired,
  })
  readonly scheduled_for: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it fired; null when missed or skipped.',
    example: EXAMPLE_TIMES.fired,
  })
  readonly fired_at: string | null;
  @ApiProperty({
    enum: RUN_STATUSES,
    description:
      'With dispatch to an agent runtime: `pending` (written, not yet delivered, or waiting for the active run under ' +
      '`buffer_one`) → `dispatched` (the runtime accepted the webhook) → `running` → `succeeded` | `failed`; ' +
      '`timed_out` when no final status came within the schedule\'s `run_timeout_seconds`; `failed` also when the ' +
      'delivery gave up. `missed` (the service was down past the catch-up window) and `skipped` (the overlap policy ' +
      'refused the fire, or the budget was exhausted: see `skip_reason`) have no session. Without dispatch a fire is `succeeded` as soon as its session is written.',
    example: 'pending',
  })
  readonly status: RunStatus;
  @ApiProperty({ type: String, nullable: true, description: 'Why it failed, timed out, was missed or skipped.', example: null })
  readonly error: string | null;
  @ApiProperty({
    enum: SKIP_REASONS,
    nullable: true,
    description: "Why a `skipped` run was skipped: `overlap` (a run was still active, see `overlap_policy`) or `budget_exhausted` (the schedule's budget period had reached a limit); null for other runs.",
    example: null,
  })
  readonly skip_reason: SkipReason | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it reached its final status; null while active and for missed or skipped runs.',
    example: null,
  })
  readonly finished_at: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When an active run becomes `timed_out` unless a final status arrives first; null when not dispatched, ' +
      'or while it waits for its turn.',
    example: EXAMPLE_TIMES.timeout,
  })
  readonly timeout_at: string | null;
  @ApiProperty({
    type: RunUsageResponse,
    nullable: true,
    description:
      'What the run consumed, as its runtime reported it with the final status (`POST /runtime/runs/{run_id}/status`, ' +
      'or the answer to its webhook); null until then, and for runs the runtime reported no usage for.',
  })
  readonly usage: RunUsageResponse | null;
  @ApiProperty({ type: RunOverridesDto, nullable: true, description: 'What this run fired differently from its schedule (POST /run with a body); null when nothing.' })
  readonly overrides: RunOverridesDto | null;
  @ApiProperty({ type: String, nullable: true, description: 'For a `replay`: the run it fired again; else null.', example: null })
  readonly replay_of: string | null;
}

export class RunListResponse {
  @ApiProperty({ type: [RunResponse], description: 'Newest first (by scheduled_for).' }) readonly runs: RunResponse[];
  @ApiProperty({ type: 'integer', description: 'Number of runs (all pages).', example: 1 }) readonly total: number;
  @ApiNextCursor() readonly next_cursor?: string | null;
}

export class DispatchAttemptResponse {
  @ApiProperty({ format: 'date-time', description: 'When the attempt started.', example: EXAMPLE_TIMES.fired }) readonly at: string;
  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'The HTTP status the runtime answered; null without an answer.',
    example: 202,
  })
  readonly status_code: number | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why the attempt did not deliver (network error, timeout, status); null when it did.',
    example: null,
  })
  readonly error: string | null;
  @ApiProperty({ type: 'integer', description: 'How long the attempt took, in milliseconds.', example: 84 }) readonly duration_ms: number;
}

export class RunDetailResponse extends RunResponse {
  @ApiProperty({ type: [DispatchAttemptResponse], description: "Every delivery attempt of the run's webhook, oldest first." })
  readonly attempts: DispatchAttemptResponse[];
}

export function toRunResponse(r: Run): RunResponse {
  return {
    id: r.id,
    schedule_id: r.scheduleId,
    session_id: r.sessionId,
    trigger: r.trigger,
    scheduled_for: r.scheduledFor.toISOString(),
    fired_at: r.firedAt?.toISOString() ?? null,
    status: r.status,
    error: r.error,
    skip_reason: r.skipReason,
    finished_at: r.finishedAt?.toISOString() ?? null,
    timeout_at: r.timeoutAt?.toISOString() ?? null,
    usage: r.usage && { input_tokens: r.usage.inputTokens, output_tokens: r.usage.outputTokens, cost_usd: r.usage.costUsd },
    overrides: r.overrides && toRunOverridesResponse(r.overrides),
    replay_of: r.replayOf,
  };
}

export function toDispatchAttemptResponse(a: DispatchAttempt): DispatchAttemptResponse {
  return { at: a.at.toISOString(), status_code: a.statusCode, error: a.error, duration_ms: a.durationMs };
}

export function toRunDetailResponse({ run, attempts }: RunWithAttempts): RunDetailResponse {
  return { ...toRunResponse(run), attempts: attempts.map(toDispatchAttemptResponse) };
}
