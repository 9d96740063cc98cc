// An oracle for cron across clock changes, built from the IANA zone rules through Intl and a cron
// matcher of its own: no cron library and none of the service's code. It checks the service's
// fire times minute by minute, by Vixie cron's rule (README "Firing").

/** A local (wall-clock) time. */
interface Local {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock time in `timeZone` at instant `ms`. */
export function wallClockAt(timeZone: string, ms: number): Local {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, format);
  }
  const value = Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, Number(p.value)]));
  return { year: value.year, month: value.month, day: value.day, hour: value.hour, minute: value.minute, second: value.second };
}

/** The wall-clock time in `timeZone` at `ms`, as an ordinal (see ordinal). */
export function localOrdinal(timeZone: string, ms: number): number {
  return ordinal(wallClockAt(timeZone, ms));
}

/** A wall-clock time as a number that orders them (milliseconds, as if it were UTC). */
function ordinal(local: Local): number {
  return Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
}

function fromOrdinal(value: number): Local {
  const d = new Date(value);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

/**
 * The instants in [from, to) at which the zone's offset changes: sampled every 6 hours (no zone
 * changes twice within that), each change then found by halving to the minute.
 */
export function offsetChanges(timeZone: string, from: number, to: number): number[] {
  const STEP = 6 * 3600_000;
  const offset = (ms: number) => ordinal(wallClockAt(timeZone, ms)) - ms;
  const changes: number[] = [];
  let before = offset(from);
  for (let at = from; at < to; at += STEP) {
    const after = offset(at + STEP);
    if (after !== before) {
      let low = at;
      let high = at + STEP;
      while (high - low > 60_000) {
        const mid = low + Math.floor((high - low) / 120_000) * 60_000;
        if (offset(mid) === before) low = mid;
        else high = mid;
      }
      changes.push(high);
    }
    before = after;
  }
  return changes;
}

/** The wall-clock time of every minute in [from, to]: what oracleFires reads (computed once for many expressions). */
export interface Minutes {
  at: number[];
  local: Local[];
}

export function minutesOf(timeZone: string, from: number, to: number): Minutes {
  const minutes: Minutes = { at: [], local: [] };
  for (let at = from; at <= to; at += 60_000) {
    minutes.at.push(at);
    minutes.local.push(wallClockAt(timeZone, at));
  }
  return minutes;
}

/** A cron expression's fields as sets of the values they allow (numbers, `*`, ranges, lists, steps). */
interface Fields {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Day-of-month and day-of-week both restricted: either matches (standard cron). */
  eitherDay: boolean;
  /** Vixie's wall-clock jobs: the seconds, minute or hour field starts with `*`. */
  byWallClock: boolean;
}

function field(text: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range, step = '1'] = part.split('/');
    const [low, high] = range === '*' ? [min, max] : range.includes('-') ? range.split('-').map(Number) : [Number(range), part.includes('/') ? max : Number(range)];
    for (let v = low; v <= high; v += Number(step)) values.add(v === 7 && max === 7 ? 0 : v);
  }
  return values;
}

export function parseCron(expression: string): Fields {
  const parts = expression.trim().split(/\s+/);
  const [s, m, h, dom, mon, dow] = parts.length === 6 ? parts : ['0', ...parts];
  return {
    seconds: field(s, 0, 59),
    minutes: field(m, 0, 59),
    hours: field(h, 0, 23),
    days: field(dom, 1, 31),
    months: field(mon, 1, 12),
    weekdays: field(dow, 0, 7),
    eitherDay: dom !== '*' && dow !== '*',
    byWallClock: [parts.length === 6 ? s : 'x', m, h].some((f) => f.startsWith('*')),
  };
}

function matches(fields: Fields, local: Local): boolean {
  const weekday = new Date(Date.UTC(local.year, local.month - 1, local.day)).getUTCDay();
  const day = fields.eitherDay ? fields.days.has(local.day) || fields.weekdays.has(weekday) : fields.days.has(local.day) && fields.weekdays.has(weekday);
  return fields.seconds.has(local.second) && fields.minutes.has(local.minute) && fields.hours.has(local.hour) && fields.months.has(local.month) && day;
}

/**
 * The instants after the first of `minutes` at which `expression` fires by Vixie cron's rule,
 * checked minute by minute (the expressions it is given fire on whole minutes): a wall-clock job at
 * every instant whose local time matches; any other job at the first occurrence of each matching
 * local time, and at the first instant after a gap in which some local time matched.
 */
export function oracleFires(expression: string, minutes: Minutes): number[] {
  const fields = parseCron(expression);
  const fires: number[] = [];
  const seen = new Set<number>();
  let previous = ordinal(minutes.local[0]);
  seen.add(previous);
  for (let i = 1; i < minutes.at.length; i++) {
    const local = minutes.local[i];
    const now = ordinal(local);
    let fire = false;
    if (fields.byWallClock) {
      fire = matches(fields, local);
    } else {
      fire = matches(fields, local) && !seen.has(now);
      // Local minutes the clock jumped over: one that matched fires now.
      for (let skipped = previous + 60_000; skipped < now && !fire; skipped += 60_000) {
        if (!seen.has(skipped) && matches(fields, fromOrdinal(skipped))) fire = true;
      }
    }
    if (fire) fires.push(minutes.at[i]);
    seen.add(now);
    previous = now;
  }
  return fires;
}
