import { createHash } from 'node:crypto';
import type { Budget } from './budget.js';
import { type LabelSelector, type Labels, labelsMatch } from './labels.js';
import type { ScheduleStats } from './schedule-stats.js';

export const PERMISSION_MODES = ['default', 'accept_edits', 'explore', 'bypass', 'dont_ask'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

/**
 * What a fire does while the schedule has an active run (ACTIVE_RUN_STATUSES, not timed out):
 * `skip` records a skipped run; `buffer_one` lets one fire wait for the active run to end (later
 * ones are skipped); `allow` fires regardless; `replace` cancels the active (and a waiting) run,
 * as a user's cancel does, and fires.
 */
export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'allow', 'replace'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/**
 * Why a schedule is disabled, as stored: `user` (created or PATCHed with `enabled: false`),
 * `consecutive_failures` (its failure policy, pause_after_failures), `max_runs_reached` (done
 * after max_runs fires), `completed` (a one-off whose instant has come). The API adds `ended` for
 * an enabled schedule whose activation window has closed (see pausedReasonOf).
 */
export const STORED_PAUSE_REASONS = ['user', 'consecutive_failures', 'max_runs_reached', 'completed'] as const;
export type StoredPauseReason = (typeof STORED_PAUSE_REASONS)[number];
export const PAUSE_REASONS = [...STORED_PAUSE_REASONS, 'ended'] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

export const PAUSE_AFTER_FAILURES_RANGE = { min: 1, max: 100 } as const;
export const MAX_RUNS_RANGE = { min: 1, max: 1_000_000 } as const;
export const MAX_PAUSE_NOTE_CHARS = 1000;

/** A schedule key: 1–128 characters of `A-Za-z0-9._:-`. */
export const SCHEDULE_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

export const SCHEDULE_SOURCES = ['USER', 'AGENT'] as const;
export type ScheduleSource = (typeof SCHEDULE_SOURCES)[number];

/** The model an agent runs with; stored and returned as the client sent it. */
export interface ChatModelConfig {
  type: string;
  credential_id: string;
  model: string;
  parameters: Record<string, unknown>;
}

/** A user's cron schedule, as the services and storage see it. */
export interface Schedule {
  id: string;
  userId: string;
  agentId: string;
  name: string;
  description: string;
  enabled: boolean;
  timezone: string;
  /**
   * When it fires: exactly one of a cron expression (read in `timezone`), `fireAt` (a one-off: one
   * fire, then it is done) or `everySeconds` (every so many seconds from `anchorAt`).
   */
  cronExpression: string | null;
  fireAt: Date | null;
  everySeconds: number | null;
  /** An interval's fire times are anchorAt + k × everySeconds; null for the other kinds. */
  anchorAt: Date | null;
  /** Each fire time moves this much later at most, by a fixed offset of the schedule's own (see jitterOffsetMs). */
  jitterSeconds: number;
  /** Activation window, as instants; null means open on that side. */
  startedAt: Date | null;
  endedAt: Date | null;
  chatModelConfig: ChatModelConfig;
  stateful: boolean;
  permissionMode: PermissionMode;
  source: ScheduleSource;
  sourceSessionId: string | null;
  /** Fires missed by at most this much (service down, busy) coalesce into one late fire; older ones are recorded as missed. */
  catchupWindowSeconds: number;
  overlapPolicy: OverlapPolicy;
  /** A dispatched run without a final status this long after it fired becomes `timed_out`. */
  runTimeoutSeconds: number;
  /** Sessions and runs kept beyond the newest this many are pruned by the ticker; null keeps all. */
  historyLimit: number | null;
  /** The next due fire time (UTC); null when disabled, past ended_at, or never due again. Kept by the service. */
  nextRunAt: Date | null;
  /** When the schedule last fired (by cron or by hand). */
  lastRunAt: Date | null;
  /** Why it is disabled; null while enabled. */
  pausedReason: StoredPauseReason | null;
  /** The user's note on a pause, given with `enabled: false`; null when none (and while enabled). */
  pauseNote: string | null;
  /** Disabled (`consecutive_failures`) once this many runs in a row end failed or timed_out; null never. */
  pauseAfterFailures: number | null;
  /** Runs in a row that ended failed or timed_out, since the last that succeeded or since it was enabled. Kept by the service. */
  consecutiveFailures: number;
  /** Done (disabled, `max_runs_reached`) after this many fires; null never. */
  maxRuns: number | null;
  /** Its fires so far, by cron, catch-up or by hand (not the skipped, missed or failed to write): what max_runs counts. Kept by the service. */
  fireCount: number;
  /** What it may consume per calendar period (see Budget); null: no budget. */
  budget: Budget | null;
  /** While set and in the future, the budget's period is exhausted until then (fire times are skipped). Kept by the service. */
  budgetExhaustedUntil: Date | null;
  /** How its runs ended, and its budget period's use (see ScheduleStats). Kept by the service. */
  stats: ScheduleStats;
  /** Its labels (see Labels); `{}` when none. */
  labels: Labels;
  /** The user's own name for it, unique among their schedules (PUT /schedule/by-key/{key}); null when it has none. */
  key: string | null;
  /** Upcoming fire times the user skipped (POST /schedule/{id}/skip), earliest first: each becomes a skipped run. */
  skippedFireTimes: Date[];
  createdAt: Date;
  updatedAt: Date;
  /**
   * Versions the user's fields: 1 when created, one more on every update. Fires (nextRunAt,
   * lastRunAt) leave it alone. The ETag of the schedule's representation.
   */
  version: number;
}

export const DEFAULT_CATCHUP_WINDOW_SECONDS = 300;
export const DEFAULT_OVERLAP_POLICY: OverlapPolicy = 'skip';
export const DEFAULT_RUN_TIMEOUT_SECONDS = 3600;
export const RUN_TIMEOUT_SECONDS_RANGE = { min: 1, max: 604_800 } as const;
export const HISTORY_LIMIT_RANGE = { min: 1, max: 100_000 } as const;

/**
 * Why the schedule does not fire, as the API shows it: the stored reason while disabled; `ended`
 * while enabled with an activation window that closed (nothing due any more before ended_at);
 * null while it fires.
 */
export function pausedReasonOf(schedule: Schedule): PauseReason | null {
  if (!schedule.enabled) return schedule.pausedReason ?? 'user';
  return schedule.endedAt !== null && schedule.nextRunAt === null ? 'ended' : null;
}

/**
 * What ending runs does to the schedule's failure count, in the order they ended: `failed` and
 * `timed_out` add one, `succeeded` starts again from zero; whether the count reached
 * pause_after_failures (an enabled schedule is then paused).
 */
export function failuresAfter(schedule: Pick<Schedule, 'consecutiveFailures' | 'pauseAfterFailures' | 'enabled'>, endings: readonly string[]): {
  consecutiveFailures: number;
  pause: boolean;
} {
  let count = schedule.consecutiveFailures;
  for (const status of endings) {
    if (status === 'succeeded') count = 0;
    else if (status === 'failed' || status === 'timed_out') count++;
  }
  const limit = schedule.pauseAfterFailures;
  return { consecutiveFailures: count, pause: schedule.enabled && limit !== null && count >= limit };
}

/**
 * The list filter `?status=`: `active` (it fires: paused_reason null), `paused` (it does not),
 * `failing` (its last run, or more in a row, failed or timed out), `budget_exhausted` (its budget's
 * period has reached a limit: fire times are skipped until it resets).
 */
export const SCHEDULE_STATUS_FILTERS = ['active', 'paused', 'failing', 'budget_exhausted'] as const;
export type ScheduleStatusFilter = (typeof SCHEDULE_STATUS_FILTERS)[number];

/** Which of a user's schedules a list shows; `now` is when `budget_exhausted` is judged. */
export interface ScheduleFilter {
  status?: ScheduleStatusFilter;
  agentId?: string;
  /** Every selector must match (see labelsMatch). */
  labels?: readonly LabelSelector[];
  now: Date;
}

/** Whether the schedule passes the filter (the SQL backends say the same in SQL). */
export function scheduleMatches(schedule: Schedule, filter: ScheduleFilter): boolean {
  if (filter.agentId !== undefined && schedule.agentId !== filter.agentId) return false;
  if (filter.labels && !labelsMatch(schedule.labels, filter.labels)) return false;
  switch (filter.status) {
    case undefined:
      return true;
    case 'active':
      return pausedReasonOf(schedule) === null;
    case 'paused':
      return pausedReasonOf(schedule) !== null;
    case 'failing':
      return schedule.consecutiveFailures > 0;
    case 'budget_exhausted':
      return schedule.budgetExhaustedUntil !== null && schedule.budgetExhaustedUntil > filter.now;
  }
}

/** Whether the schedule has fired max_runs times (or more: max_runs lowered since). */
export function maxRunsReached(schedule: Pick<Schedule, 'maxRuns' | 'fireCount'>): boolean {
  return schedule.maxRuns !== null && schedule.fireCount >= schedule.maxRuns;
}

/** Why a schedule is done: max_runs fires, or a one-off's fire time has come. */
export type DoneReason = Extract<StoredPauseReason, 'max_runs_reached' | 'completed'>;

/** What a schedule that is done becomes (the version and updatedAt aside). */
export function doneAs(reason: DoneReason) {
  return { enabled: false, pausedReason: reason, pauseNote: null, nextRunAt: null } as const satisfies Partial<Schedule>;
}

/** What a schedule that is done after max_runs fires becomes (the version and updatedAt aside). */
export const MAX_RUNS_REACHED = doneAs('max_runs_reached');

/**
 * Whether a claim leaves the schedule done: its fire is its max_runs-th; or it is a one-off whose
 * fire time was handled (fired, skipped, missed or failed to write), with nothing due after it.
 */
export function doneAfterClaim(schedule: Pick<Schedule, 'maxRuns' | 'fireCount' | 'fireAt'>, fired: boolean, nextRunAt: Date | null): DoneReason | null {
  if (fired && maxRunsReached({ ...schedule, fireCount: schedule.fireCount + 1 })) return 'max_runs_reached';
  return schedule.fireAt !== null && nextRunAt === null ? 'completed' : null;
}

/** Skipped fire times one schedule may have pending. */
export const MAX_PENDING_SKIPS = 100;

export const JITTER_SECONDS_RANGE = { min: 0, max: 3600 } as const;
export const EVERY_SECONDS_MAX = 31_536_000;

/**
 * The schedule's own jitter offset: in [0, jitterSeconds) seconds, the same at every fire and on
 * every replica (derived from its id), so that fleets on one cron time spread out.
 */
export function jitterOffsetMs(schedule: Pick<Schedule, 'id' | 'jitterSeconds'>): number {
  if (schedule.jitterSeconds <= 0) return 0;
  const digest = createHash('sha256').update(schedule.id).digest();
  return digest.readUIntBE(0, 6) % (schedule.jitterSeconds * 1000);
}
