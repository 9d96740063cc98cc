import { type Budget, budgetExhausted, type PeriodUse, periodResetsAt, periodUseAt } from './budget.js';
import { isFinalRunStatus, type Run, type RunStatus, type RunUsage } from './run.js';

/**
 * A schedule's health, kept by the storage in the transactions that write or end its runs (so
 * that reading it never scans runs): how its runs ended, its last success and failure, and what
 * it consumed in its budget's current period. (Its fires and its failure streak are kept beside
 * it: Schedule.fireCount and Schedule.consecutiveFailures.)
 */
export interface ScheduleStats {
  succeeded: number;
  failed: number;
  timedOut: number;
  skipped: number;
  missed: number;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  /** The error of the last run that failed or timed out. */
  lastError: string | null;
  /** The budget's current period; null without a budget (or before its first fire). */
  period: PeriodUse | null;
}

export const EMPTY_STATS: ScheduleStats = {
  succeeded: 0,
  failed: 0,
  timedOut: 0,
  skipped: 0,
  missed: 0,
  lastSuccessAt: null,
  lastFailureAt: null,
  lastError: null,
  period: null,
};

/** A run reaching a final status, as the stats count it: when, and with what error. */
export interface RunEnd {
  status: RunStatus;
  at: Date;
  error: string | null;
}

/** The stats after these runs ended (in this order); active statuses count nothing. */
export function statsAfterRuns(stats: ScheduleStats, ends: readonly RunEnd[]): ScheduleStats {
  const next = { ...stats };
  for (const { status, at, error } of ends) {
    switch (status) {
      case 'succeeded':
        next.succeeded++;
        next.lastSuccessAt = at;
        break;
      case 'failed':
      case 'timed_out':
        if (status === 'failed') next.failed++;
        else next.timedOut++;
        next.lastFailureAt = at;
        next.lastError = error;
        break;
      case 'skipped':
        next.skipped++;
        break;
      case 'missed':
        next.missed++;
        break;
    }
  }
  return next;
}

/** The budget a schedule has, with the zone its periods are counted in. */
export interface Budgeted {
  budget: Budget | null;
  timezone: string;
}

/**
 * What a fire at `at` (its fire time) finds: whether the budget's period is exhausted (then the
 * fire is skipped), and the period use after it fires (one run more), with whether that fire is the
 * one that exhausts it. Without a budget: never exhausted, no period.
 */
export function budgetAtFire(
  schedule: Budgeted,
  stats: ScheduleStats,
  at: Date,
): { exhausted: boolean; resetsAt: Date | null; periodAfterFire: PeriodUse | null; exhaustsNow: boolean } {
  const { budget, timezone } = schedule;
  if (!budget) return { exhausted: false, resetsAt: null, periodAfterFire: null, exhaustsNow: false };
  const period = periodUseAt(stats.period, budget, timezone, at);
  const resetsAt = periodResetsAt(budget.period, timezone, period.startsAt);
  if (budgetExhausted(budget, period)) return { exhausted: true, resetsAt, periodAfterFire: period, exhaustsNow: false };
  const after = { ...period, runs: period.runs + 1 };
  return { exhausted: false, resetsAt, periodAfterFire: after, exhaustsNow: budgetExhausted(budget, after) };
}

/**
 * The period use after runs reported `usages` at `now` (counted in the period of `now`), and
 * whether they exhausted it just now (it was not before). Without a budget: unchanged.
 */
export function periodAfterUsage(
  schedule: Budgeted,
  period: PeriodUse | null,
  usages: readonly RunUsage[],
  now: Date,
): { period: PeriodUse | null; exhaustsNow: boolean; resetsAt: Date | null } {
  const { budget, timezone } = schedule;
  if (!budget || usages.length === 0) return { period, exhaustsNow: false, resetsAt: null };
  const before = periodUseAt(period, budget, timezone, now);
  const after = { ...before };
  for (const usage of usages) {
    after.inputTokens += usage.inputTokens;
    after.outputTokens += usage.outputTokens;
    after.costUsd += usage.costUsd ?? 0;
  }
  const exhaustsNow = !budgetExhausted(budget, before) && budgetExhausted(budget, after);
  return { period: after, exhaustsNow, resetsAt: periodResetsAt(budget.period, timezone, after.startsAt) };
}

/** What a schedule's bookkeeping reads: its budget, zone, stats and exhaustion mark. */
export type Kept = Budgeted & { stats: ScheduleStats; budgetExhaustedUntil: Date | null };

/** A schedule's bookkeeping after a write: its stats, its exhaustion mark, and whether the write exhausted its budget's period. */
export interface Bookkeeping {
  stats: ScheduleStats;
  budgetExhaustedUntil: Date | null;
  /** The write made the budget's period exhausted (it was not): the `schedule.budget_exhausted` transition. */
  exhaustedNow: boolean;
}

/**
 * When the budget's period holding fire time `at` is exhausted, the instant it resets; else null.
 * What decideFire takes to skip a fire for its budget.
 */
export function budgetBlocksUntil(schedule: Kept, at: Date): Date | null {
  const found = budgetAtFire(schedule, schedule.stats, at);
  return found.exhausted ? found.resetsAt : null;
}

/**
 * The bookkeeping after a fire time was handled: `runs` written for it (those final count: a
 * record-only fire's success, skipped, missed or failed to write), and, when its fire was written
 * (`fired`, for fire time `at`), one run more in the budget's period.
 */
export function afterFireTime(schedule: Kept, runs: readonly Run[], fired: { at: Date } | null): Bookkeeping {
  const ends = runs.filter((r) => isFinalRunStatus(r.status)).map((r) => ({ status: r.status, at: r.finishedAt ?? r.scheduledFor, error: r.error }));
  const stats = statsAfterRuns(schedule.stats, ends);
  let budgetExhaustedUntil = schedule.budgetExhaustedUntil;
  let exhaustedNow = false;
  const skippedFor = runs.find((r) => r.skipReason === 'budget_exhausted');
  if (fired && schedule.budget) {
    const found = budgetAtFire(schedule, schedule.stats, fired.at);
    stats.period = found.periodAfterFire;
    if (found.exhaustsNow) {
      budgetExhaustedUntil = found.resetsAt;
      exhaustedNow = true;
    }
  } else if (skippedFor && schedule.budget) {
    budgetExhaustedUntil = budgetBlocksUntil(schedule, skippedFor.scheduledFor);
  }
  return { stats, budgetExhaustedUntil, exhaustedNow };
}

/**
 * The bookkeeping after active runs ended at `now` (in this order): how they ended, and what
 * they reported consuming, counted in the budget's period of `now`.
 */
export function afterRunsEnded(schedule: Kept, ends: ReadonlyArray<RunEnd & { usage: RunUsage | null }>, now: Date): Bookkeeping {
  const stats = statsAfterRuns(schedule.stats, ends);
  const usages = ends.flatMap((e) => (e.usage ? [e.usage] : []));
  const { period, exhaustsNow, resetsAt } = periodAfterUsage(schedule, stats.period, usages, now);
  stats.period = period;
  return { stats, budgetExhaustedUntil: exhaustsNow ? resetsAt : schedule.budgetExhaustedUntil, exhaustedNow: exhaustsNow };
}

/** The stats as stored (JSON text): dates as ISO strings. */
export function statsToJson(stats: ScheduleStats): string {
  return JSON.stringify(stats);
}

/** The stats of their stored JSON text; missing fields (rows a migration filled in part) count as none. */
export function statsFromJson(json: string | null | undefined): ScheduleStats {
  if (!json) return { ...EMPTY_STATS };
  const raw = JSON.parse(json) as Record<string, unknown>;
  const count = (v: unknown) => (typeof v === 'number' ? v : 0);
  const date = (v: unknown) => (typeof v === 'string' ? new Date(v) : null);
  const p = raw.period as Record<string, unknown> | null | undefined;
  return {
    succeeded: count(raw.succeeded),
    failed: count(raw.failed),
    timedOut: count(raw.timedOut),
    skipped: count(raw.skipped),
    missed: count(raw.missed),
    lastSuccessAt: date(raw.lastSuccessAt),
    lastFailureAt: date(raw.lastFailureAt),
    lastError: typeof raw.lastError === 'string' ? raw.lastError : null,
    period: p
      ? { startsAt: new Date(p.startsAt as string), runs: count(p.runs), inputTokens: count(p.inputTokens), outputTokens: count(p.outputTokens), costUsd: count(p.costUsd) }
      : null,
  };
}
