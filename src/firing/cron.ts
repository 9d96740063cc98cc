import { Cron } from 'croner';
import { jitterOffsetMs, type Schedule } from '../domain/schedule.js';
import { lastOffsetChange, nextOffsetChange, offsetAt } from './zone-clock.js';

type Timing = Pick<
  Schedule,
  'id' | 'cronExpression' | 'fireAt' | 'everySeconds' | 'anchorAt' | 'jitterSeconds' | 'timezone' | 'enabled' | 'startedAt' | 'endedAt'
>;

/**
 * Why `expression` is not a cron expression this service accepts, or null when it is: five
 * fields (minute hour day-of-month month day-of-week), or six with seconds first, with standard
 * cron's meaning (day-of-week 0 and 7 are Sunday) and at least one future fire time.
 */
export function cronExpressionProblem(expression: string, timezone = 'UTC'): string | null {
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return `must have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; got ${fields}`;
  }
  try {
    if (cronFor(expression, timezone).nextRun() === null) return 'never fires';
  } catch (error) {
    return `is not a valid cron expression: ${(error as Error).message}`;
  }
  return null;
}

/**
 * The schedule's first fire time strictly after `after`, inside its activation window (both
 * ends inclusive); null when disabled or when it never fires again. Its kind says the times: its
 * cron expression's in its zone (nextCronTime: Vixie cron's rule across clock changes), its one
 * instant, or its anchor plus whole intervals (real time: DST does not move them). Each moves
 * later by the schedule's jitter offset (jitterOffsetMs).
 */
export function nextFireAfter(schedule: Timing, after: Date): Date | null {
  if (!schedule.enabled) return null;
  const from = schedule.startedAt && schedule.startedAt > after ? new Date(schedule.startedAt.getTime() - 1) : after;
  const jitter = jitterOffsetMs(schedule);
  const base = nextBaseTimeAfter(schedule, new Date(from.getTime() - jitter));
  if (!base) return null;
  const next = new Date(base.getTime() + jitter);
  if (schedule.endedAt && next > schedule.endedAt) return null;
  return next;
}

/** The kind's first time strictly after `after`, before jitter and the window. */
function nextBaseTimeAfter(schedule: Timing, after: Date): Date | null {
  if (schedule.cronExpression !== null) return nextCronTime(schedule.cronExpression, schedule.timezone, after);
  if (schedule.fireAt !== null) return schedule.fireAt > after ? schedule.fireAt : null;
  if (schedule.everySeconds !== null && schedule.anchorAt !== null) {
    const anchor = schedule.anchorAt.getTime();
    const step = schedule.everySeconds * 1000;
    if (after.getTime() < anchor) return new Date(anchor);
    return new Date(anchor + (Math.floor((after.getTime() - anchor) / step) + 1) * step);
  }
  return null;
}

/**
 * Whether a cron job runs by the wall clock across clock changes (Vixie cron's rule): one whose
 * minute or hour field (or, with 6 fields, its seconds field) starts with `*`.
 */
export function runsByWallClock(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  const clockFields = fields.length === 6 ? fields.slice(0, 3) : fields.slice(0, 2);
  return clockFields.some((field) => field.startsWith('*'));
}

/**
 * The first instant strictly after `after` at which `expression` fires in `timeZone`, by Vixie
 * cron's rule (README "Firing"): a job that runs by the wall clock (runsByWallClock) fires at every
 * instant whose local time matches: times a clock change skips do not fire, times it repeats fire
 * again. Any other job fires each matching local time once: one that a change skips, at the first
 * instant after the gap (several in one gap fire once there); one that it repeats, at its first
 * occurrence only. The expression's matches are taken as wall-clock times (croner, in UTC), and
 * mapped to instants piece by piece between the zone's offset changes (zone-clock).
 */
export function nextCronTime(expression: string, timeZone: string, after: Date): Date | null {
  const wallClock = cronFor(expression, 'UTC');
  if (UTC_ZONES.has(timeZone)) return wallClock.nextRun(after);
  const byWallClock = runsByWallClock(expression);
  const afterMs = after.getTime();
  let from = afterMs;
  let pieceStart = afterMs;
  let offset = offsetAt(timeZone, from);
  // Wall-clock times before this are not matched again: after a change that repeated them, a job
  // that does not run by the wall clock has had them already.
  let floor = -Infinity;
  const last = lastOffsetChange(timeZone, from);
  if (!byWallClock && last && last.after < last.before) floor = last.at + last.before;
  // Each pass is one piece of time with one offset: instants in [from, end), searched strictly after `from`.
  for (;;) {
    const change = nextOffsetChange(timeZone, pieceStart);
    const end = change ? change.at : Infinity;
    const match = wallClock.nextRun(new Date(Math.max(from + offset, floor - 1)));
    if (!match) return null;
    if (match.getTime() < end + offset) return new Date(match.getTime() - offset);
    if (!change) return null;
    if (!byWallClock && change.after > change.before) {
      // A gap: wall-clock times in [end + before, end + after) do not exist; one that matches fires at `end`.
      const skipped = wallClock.nextRun(new Date(end + change.before - 1));
      if (skipped && skipped.getTime() < end + change.after) return new Date(end);
    }
    floor = !byWallClock && change.after < change.before ? end + change.before : -Infinity;
    // The next piece starts at `end` itself (searched strictly after end - 1); its changes come after `end`.
    from = end - 1;
    pieceStart = end;
    offset = change.after;
  }
}

/** How many upcoming fire times fireIntervalProblem compares. */
export const FIRE_GAP_SAMPLES = 20;

/**
 * Why `expression` fires too often, or null: when two of its next FIRE_GAP_SAMPLES fire times
 * after `from`, read in `timezone`, are less than `minSeconds` apart. (Not the activation window:
 * the expression alone.) The expression must be valid (see cronExpressionProblem).
 */
export function fireIntervalProblem(expression: string, timezone: string, minSeconds: number, from: Date): string | null {
  // Cron's finest step is a second: nothing fires more often than that.
  if (minSeconds <= 1) return null;
  const times: Date[] = [];
  for (let at = nextCronTime(expression, timezone, from); at && times.length < FIRE_GAP_SAMPLES; at = nextCronTime(expression, timezone, at)) times.push(at);
  let shortest = Infinity;
  for (let i = 1; i < times.length; i++) shortest = Math.min(shortest, times[i].getTime() - times[i - 1].getTime());
  if (shortest >= minSeconds * 1000) return null;
  return `fires as often as every ${shortest / 1000} s; at least ${minSeconds} s must pass between two fires`;
}

/** Up to `count` fire times strictly after `after`, in order. */
export function upcomingFires(schedule: Timing, after: Date, count: number): Date[] {
  const fires: Date[] = [];
  for (let at = nextFireAfter(schedule, after); at && fires.length < count; at = nextFireAfter(schedule, at)) {
    fires.push(at);
  }
  return fires;
}

// Parsing a pattern costs far more than stepping it; a tick asks for the same few patterns again and again.
const patterns = new Map<string, Cron>();
const MAX_CACHED_PATTERNS = 10_000;
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu', 'GMT', 'Etc/GMT']);

function cronFor(expression: string, timezone: string): Cron {
  const key = `${timezone}\u0000${expression}`;
  let cron = patterns.get(key);
  if (!cron) {
    // A fixed zero offset gives the same times as the UTC zone at a tenth of the cost (no Intl).
    const zone = UTC_ZONES.has(timezone) ? { utcOffset: 0 } : { timezone };
    cron = new Cron(expression, { ...zone, paused: true });
    if (patterns.size >= MAX_CACHED_PATTERNS) patterns.clear();
    patterns.set(key, cron);
  }
  return cron;
}
