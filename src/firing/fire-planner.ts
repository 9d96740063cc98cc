import { nextFireAfter } from './cron.js';
import type { Schedule } from '../domain/schedule.js';
import { type DueFirePlan, fireWrite, unfiredRun, userSkippedRun } from '../domain/fire.js';
import type { Run } from '../domain/run.js';

/** At most this many missed fire times are recorded one by one per claim; the rest are summarised. */
export const MAX_MISSED_RUNS_RECORDED = 100;

/**
 * What a due schedule does at `now`. Its fire times from `nextRunAt` up to `now` are split by
 * the catch-up window: those older than the window are recorded as missed; those inside it
 * coalesce into one fire, for the latest of them (trigger `cron` when it is the only fire time
 * pending, `catchup` when several were). Then `nextRunAt` moves to the first fire time after `now`.
 * With `dispatching`, the fire is handed to the runtime (see fireWrite).
 */
export function planDueFire(schedule: Schedule, now: Date, dispatching = false): DueFirePlan {
  const cutoff = new Date(now.getTime() - schedule.catchupWindowSeconds * 1000);
  const skipped = new Set(schedule.skippedFireTimes.map((d) => d.getTime()));
  const missed: Run[] = [];
  let pending = 0;
  let at = schedule.nextRunAt;
  while (at && at < cutoff && missed.length < MAX_MISSED_RUNS_RECORDED) {
    missed.push(skipped.has(at.getTime()) ? userSkippedRun(schedule, at) : missedRun(schedule, at, now));
    pending++;
    at = nextFireAfter(schedule, at);
  }
  if (at && at < cutoff) {
    // More missed times than are recorded one by one: say so on the last record, jump to the window.
    missed[missed.length - 1].error += '; later missed fire times before the catch-up window are not listed';
    pending++;
    at = nextFireAfter(schedule, new Date(cutoff.getTime() - 1));
  }
  let fireFor: Date | null = null;
  while (at && at <= now) {
    fireFor = at;
    pending++;
    at = nextFireAfter(schedule, at);
  }
  // A fire time the user skipped is a skipped run, not a fire.
  if (fireFor && skipped.has(fireFor.getTime())) {
    missed.push(userSkippedRun(schedule, fireFor));
    fireFor = null;
  }
  const fire = fireFor ? fireWrite(schedule, now, pending > 1 ? 'catchup' : 'cron', fireFor, dispatching) : null;
  const plan: DueFirePlan = { scheduleId: schedule.id, fire, unfired: missed, nextRunAt: at };
  // The skips this claim passed are spent (only a schedule that has some has any to rewrite).
  if (schedule.skippedFireTimes.length > 0) plan.skippedFireTimes = schedule.skippedFireTimes.filter((d) => at !== null && d >= at);
  return plan;
}

function missedRun(schedule: Schedule, scheduledFor: Date, now: Date): Run {
  const late = Math.round((now.getTime() - scheduledFor.getTime()) / 1000);
  const error = `not fired: ${late} s late, beyond the catch-up window of ${schedule.catchupWindowSeconds} s`;
  return unfiredRun(schedule, scheduledFor, 'missed', error);
}
