import type { ChatModelConfig, PermissionMode } from './schedule.js';

/**
 * What caused a run: its cron (`cron`, `catchup`), the user by hand (`manual`, POST /run), a
 * replay of an earlier run (`replay`), a backfill of a past fire time (`backfill`).
 */
export const RUN_TRIGGERS = ['cron', 'manual', 'catchup', 'replay', 'backfill'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/**
 * Whether a run takes its schedule's fire time (`scheduledFor`) for itself: one run per schedule
 * and fire time of these (the database's unique key). Manual runs and replays are asked for
 * whenever; they take none.
 */
export function takesFireTime(trigger: RunTrigger): boolean {
  return trigger !== 'manual' && trigger !== 'replay';
}

/** What one run fires differently from its schedule (POST /run with a body); the schedule does not change. */
export interface RunOverrides {
  description?: string;
  chatModelConfig?: ChatModelConfig;
  permissionMode?: PermissionMode;
}

/**
 * A run's lifecycle: `pending` (written by the fire, waiting for delivery) → `dispatched` (the
 * runtime accepted the webhook) → `running` → `succeeded` | `failed`; `timed_out` when no final
 * status came within the schedule's run timeout; `cancelled` when its user stopped it (POST
 * /schedule/{id}/runs/{run_id}/cancel). `missed` and `skipped` are records of fire
 * times that did not fire (no session). In record-only mode (no dispatch) a fire is `succeeded`
 * at once.
 */
export const RUN_STATUSES = ['pending', 'dispatched', 'running', 'succeeded', 'failed', 'timed_out', 'missed', 'skipped', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * Why a fire time became a `skipped` run: `overlap` (its schedule's overlap policy, a run was
 * still active), `budget_exhausted` (its budget's period had reached a limit) or `user` (the user
 * skipped that fire time ahead of it).
 */
export const SKIP_REASONS = ['overlap', 'budget_exhausted', 'user'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Statuses of a run the runtime still owes an outcome: what the overlap policy counts as active. */
export const ACTIVE_RUN_STATUSES = ['pending', 'dispatched', 'running'] as const satisfies readonly RunStatus[];

/** What the runtime may report (POST /runtime/runs/{id}/status, or a webhook's answer). */
export const RUNTIME_RUN_STATUSES = ['running', 'succeeded', 'failed'] as const satisfies readonly RunStatus[];
export type RuntimeRunStatus = (typeof RUNTIME_RUN_STATUSES)[number];

export function isActiveRunStatus(status: RunStatus): boolean {
  return (ACTIVE_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

/** A status no run leaves. */
export function isFinalRunStatus(status: RunStatus): boolean {
  return !isActiveRunStatus(status);
}

/**
 * What a runtime report of `to` does to a run in `current`: `apply` it; `noop` when it is the
 * current status already (runtimes retry their reports); `illegal` otherwise: from a final
 * status. (An active run may skip ahead: a runtime can report `succeeded` before its `running`.)
 */
export function runTransition(current: RunStatus, to: RuntimeRunStatus): 'apply' | 'noop' | 'illegal' {
  if (current === to) return 'noop';
  return isFinalRunStatus(current) ? 'illegal' : 'apply';
}

/**
 * What a run consumed, as its runtime reported it with the final status (POST
 * /runtime/runs/{id}/status, or a webhook's synchronous answer). Cost is optional: a runtime may
 * count tokens without pricing them.
 */
export interface RunUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
}

/** The most a run may report: far past any real run, small enough that sums of a million runs stay exact. */
export const RUN_USAGE_BOUNDS = { maxTokens: 1_000_000_000, maxCostUsd: 1_000_000 } as const;

/**
 * A usage as the wire carries it (`{input_tokens, output_tokens, cost_usd?}`), or null when it is
 * not one: tokens whole numbers and cost a number, none negative or past RUN_USAGE_BOUNDS.
 */
export function runUsageFromWire(value: unknown): RunUsage | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { input_tokens, output_tokens, cost_usd } = value as Record<string, unknown>;
  const tokens = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= RUN_USAGE_BOUNDS.maxTokens;
  if (!tokens(input_tokens) || !tokens(output_tokens)) return null;
  if (cost_usd !== undefined && cost_usd !== null) {
    if (typeof cost_usd !== 'number' || !Number.isFinite(cost_usd) || cost_usd < 0 || cost_usd > RUN_USAGE_BOUNDS.maxCostUsd) return null;
  }
  return { inputTokens: input_tokens, outputTokens: output_tokens, costUsd: typeof cost_usd === 'number' ? cost_usd : null };
}

/** The error of a run its user cancelled. */
export const CANCELLED_ERROR = 'cancelled by its user';

/** A run's final status as its runtime reports it: with the error of a failure, and what it consumed. */
export interface RunOutcome {
  status: 'succeeded' | 'failed';
  error: string | null;
  usage: RunUsage | null;
}

/** One fire of a schedule, or one fire time it missed or skipped: the schedule's run history. */
export interface Run {
  id: string;
  scheduleId: string;
  userId: string;
  /** The session the fire created or appended to; null for runs without one (missed, skipped, failed to write). */
  sessionId: string | null;
  trigger: RunTrigger;
  /** The cron time this run is for (for a manual run: when it was asked for). */
  scheduledFor: Date;
  /** When it actually fired; null for a missed or skipped run. */
  firedAt: Date | null;
  status: RunStatus;
  error: string | null;
  /** Why it was skipped; null unless `skipped`. */
  skipReason: SkipReason | null;
  /**
   * When it reached its final status: the fire itself in record-only mode, else when the runtime
   * (or the timeout, or a delivery that gave up) ended it. Null while active, and for records of
   * fire times that did not fire (missed, skipped, failed to write).
   */
  finishedAt: Date | null;
  /**
   * When an active run times out (`timed_out`) unless a final status arrives first: fired (or,
   * for a run that waited under `buffer_one`, released) plus the schedule's run timeout. Null
   * for runs that are not dispatched, and for a run still waiting for its turn.
   */
  timeoutAt: Date | null;
  /** What it consumed, when its runtime reported it with the final status; null until then (and for runs without one). */
  usage: RunUsage | null;
  /** What it fired differently from its schedule; null when nothing. */
  overrides: RunOverrides | null;
  /** The run a `replay` fired again; null for the others. */
  replayOf: string | null;
  /** Failed because its delivery gave up (the runtime never had it): what POST /runs/redrive delivers again. */
  gaveUp: boolean;
}

/** One try at delivering a run's webhook. */
export interface DispatchAttempt {
  runId: string;
  at: Date;
  /** The HTTP status the runtime answered; null when there was no answer (network error, timeout). */
  statusCode: number | null;
  /** Why the attempt did not deliver; null when it did. */
  error: string | null;
  durationMs: number;
}

/** A run with every delivery attempt made for it, oldest first (GET /schedule/{id}/runs/{run_id}). */
export interface RunWithAttempts {
  run: Run;
  attempts: DispatchAttempt[];
}
