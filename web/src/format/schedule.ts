import cronstrue from 'cronstrue';
import type { RunStatus, Schedule } from '../api/client.js';
import { formatInZone } from './time.js';

type ScheduleData = Schedule['data'];

/** When a schedule fires, in words: the cron expression through cronstrue, and the one-off and interval kinds. */
export function describeWhen(data: Pick<ScheduleData, 'cron_expression' | 'at' | 'every_seconds' | 'timezone'>): string {
  if (data.at) return `Once, at ${formatInZone(data.at, data.timezone)}`;
  if (data.every_seconds) return `Every ${describeSeconds(data.every_seconds)}`;
  if (!data.cron_expression) return 'Never';
  try {
    return cronstrue.toString(data.cron_expression, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return data.cron_expression;
  }
}

function describeSeconds(seconds: number): string {
  const units: Array<[string, number]> = [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (seconds % size === 0) return plural(seconds / size, unit);
  }
  return plural(seconds, 'second');
}

function plural(count: number, unit: string): string {
  return count === 1 ? unit : `${count} ${unit}s`;
}

/** What a status looks like: its words and the tone of its badge (the words carry the meaning; colour only helps). */
export type Tone = 'good' | 'bad' | 'busy' | 'waiting' | 'quiet';

export const RUN_TONES: Record<RunStatus, Tone> = {
  succeeded: 'good',
  failed: 'bad',
  timed_out: 'bad',
  running: 'busy',
  dispatched: 'busy',
  pending: 'waiting',
  skipped: 'quiet',
  missed: 'quiet',
  cancelled: 'quiet',
};

/** A fresh run's status as a sentence's end: "the run is pending", "the run succeeded". */
export function runStatusInWords(status: RunStatus): string {
  if (isActive(status)) return `the run is ${status}`;
  return `the run ${status === 'timed_out' ? 'timed out' : status === 'skipped' || status === 'missed' || status === 'cancelled' ? `was ${status}` : status}`;
}

/** Whether a run may still change (the runtime has it, or it waits to be delivered). */
export function isActive(status: RunStatus): boolean {
  return status === 'pending' || status === 'dispatched' || status === 'running';
}

export const PAUSE_REASONS: Record<NonNullable<ScheduleData['paused_reason']>, string> = {
  user: 'paused by a user',
  consecutive_failures: 'paused after failures in a row',
  max_runs_reached: 'done: reached its run limit',
  completed: 'done: its one fire time is past',
  ended: 'done: past its end',
};

/** The schedule's state in one word, and why when it does not fire. */
export function scheduleState(schedule: Schedule): { label: string; tone: Tone; reason: string | null } {
  const reason = schedule.data.paused_reason;
  if (reason) return { label: reason === 'user' || reason === 'consecutive_failures' ? 'Paused' : 'Done', tone: reason === 'consecutive_failures' ? 'bad' : 'quiet', reason: PAUSE_REASONS[reason] };
  if (schedule.stats.period?.exhausted) return { label: 'Budget used', tone: 'waiting', reason: `budget exhausted until ${formatInZone(schedule.stats.period.resets_at, schedule.data.timezone)}` };
  if (schedule.stats.consecutive_failures > 0) return { label: 'Failing', tone: 'bad', reason: `${schedule.stats.consecutive_failures} failed in a row` };
  return { label: 'Active', tone: 'good', reason: null };
}

/** How much of its budget's period the schedule has used, in words; null without a budget. */
export function budgetUse(schedule: Schedule): string | null {
  const budget = schedule.data.budget as { period: string; max_runs?: number | null; max_tokens?: number | null; max_cost_usd?: number | null } | null;
  const period = schedule.stats.period;
  if (!budget || !period) return null;
  const parts: string[] = [];
  if (budget.max_runs) parts.push(`${period.runs}/${budget.max_runs} runs`);
  if (budget.max_tokens) parts.push(`${period.input_tokens + period.output_tokens}/${budget.max_tokens} tokens`);
  if (budget.max_cost_usd) parts.push(`$${period.cost_usd.toFixed(2)}/$${budget.max_cost_usd.toFixed(2)}`);
  return `${parts.join(', ')} this ${budget.period}`;
}
