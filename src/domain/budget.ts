import { Cron } from 'croner';

/**
 * A schedule's budget: how much it may consume in a calendar period of its own time zone (a day
 * from local midnight, a week from Monday's midnight, a month from the 1st's). While a period's
 * consumption has reached a limit, its fire times are skipped (`budget_exhausted`); the next
 * period starts afresh. Tokens and cost count when the runtime reports them, in the period in
 * which they are reported: runs in flight can overshoot a usage limit by what they consume.
 */
export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

export interface Budget {
  period: BudgetPeriod;
  /** Fires per period (by cron, catch-up or by hand); null: no limit. */
  maxRuns: number | null;
  /** Input plus output tokens per period; null: no limit. */
  maxTokens: number | null;
  maxCostUsd: number | null;
}

export const BUDGET_LIMIT_BOUNDS = { maxRuns: 1_000_000, maxTokens: 1_000_000_000_000, minCostUsd: 0.01, maxCostUsd: 1_000_000_000 } as const;

/** What a schedule consumed in its current budget period. */
export interface PeriodUse {
  startsAt: Date;
  runs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Whether the budget sets any limit (one without is refused). */
export function hasLimit(budget: Budget): boolean {
  return budget.maxRuns !== null || budget.maxTokens !== null || budget.maxCostUsd !== null;
}

/** Whether the period's consumption has reached one of the budget's limits. */
export function budgetExhausted(budget: Budget, use: PeriodUse): boolean {
  return (
    (budget.maxRuns !== null && use.runs >= budget.maxRuns) ||
    (budget.maxTokens !== null && use.inputTokens + use.outputTokens >= budget.maxTokens) ||
    (budget.maxCostUsd !== null && use.costUsd >= budget.maxCostUsd)
  );
}

/**
 * The period of `use` at `at`: `use` itself while `at` is inside it, or a fresh one (nothing
 * consumed) from the start of the period `at` falls in. Never goes back: an instant before
 * `use`'s period (a late catch-up slot) counts in `use`'s.
 */
export function periodUseAt(use: PeriodUse | null, budget: Budget, timezone: string, at: Date): PeriodUse {
  if (use && at < periodResetsAt(budget.period, timezone, use.startsAt)) return use;
  const startsAt = periodStart(budget.period, timezone, at);
  if (use && startsAt <= use.startsAt) return use;
  return { startsAt, runs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
}

// Period boundaries are the local midnights the cron library computes (days whose midnight a clock
// change skips start at the first instant after the gap; a repeated midnight counts once).
const BOUNDARY_PATTERNS: Record<BudgetPeriod, { pattern: string; span: number }> = {
  day: { pattern: '0 0 0 * * *', span: 2 * 86_400_000 },
  week: { pattern: '0 0 0 * * 1', span: 8 * 86_400_000 },
  month: { pattern: '0 0 0 1 * *', span: 32 * 86_400_000 },
};
const boundaryCrons = new Map<string, Cron>();

function boundaries(period: BudgetPeriod, timezone: string): Cron {
  const key = `${period}\u0000${timezone}`;
  let cron = boundaryCrons.get(key);
  if (!cron) {
    if (boundaryCrons.size >= 1000) boundaryCrons.clear();
    cron = new Cron(BOUNDARY_PATTERNS[period].pattern, { timezone, paused: true });
    boundaryCrons.set(key, cron);
  }
  return cron;
}

/** The first period boundary strictly after `at`: when the period `at` falls in resets. */
export function periodResetsAt(period: BudgetPeriod, timezone: string, at: Date): Date {
  return boundaries(period, timezone).nextRun(at)!;
}

/** The start of the period `at` falls in: the last period boundary at or before `at`. */
export function periodStart(period: BudgetPeriod, timezone: string, at: Date): Date {
  const cron = boundaries(period, timezone);
  // A period is shorter than its span: stepping from that far back reaches the boundary before `at`.
  let start = cron.nextRun(new Date(at.getTime() - BOUNDARY_PATTERNS[period].span))!;
  for (let next = cron.nextRun(start)!; next <= at; next = cron.nextRun(next)!) start = next;
  return start;
}
