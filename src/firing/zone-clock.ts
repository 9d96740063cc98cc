/**
 * A time zone's offsets and their changes (DST, and any other change of a zone's rules), from the
 * IANA database the runtime carries, through Intl: what cron needs to map wall-clock times to
 * instants. Offsets are in milliseconds (local = UTC + offset). A zone's changes are found once per
 * year and kept.
 */

/** One change of a zone's offset: from `at` on, local time is UTC + `after` (it was UTC + `before`). */
export interface OffsetChange {
  at: number;
  before: number;
  after: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const changesByZoneYear = new Map<string, OffsetChange[]>();
const MAX_CACHED = 20_000;

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_CACHED) formatters.clear();
    formatters.set(timeZone, format);
  }
  return format;
}

/** The zone's offset at instant `ms` (whole seconds: sub-second instants count as their second). */
export function offsetAt(timeZone: string, ms: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const local = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return local - (ms - (((ms % 1000) + 1000) % 1000));
}

const SAMPLE_MS = 6 * 3600_000;

/** The zone's offset changes in a UTC year, earliest first (sampled every 6 h, each found to the millisecond). */
export function offsetChangesInYear(timeZone: string, year: number): OffsetChange[] {
  const key = `${timeZone}\u0000${year}`;
  let changes = changesByZoneYear.get(key);
  if (changes) return changes;
  changes = [];
  const end = Date.UTC(year + 1, 0, 1);
  let at = Date.UTC(year, 0, 1);
  let offset = offsetAt(timeZone, at);
  while (at < end) {
    const next = Math.min(at + SAMPLE_MS, end);
    const nextOffset = offsetAt(timeZone, next);
    if (nextOffset !== offset) {
      // The first instant with the new offset, in (at, next].
      let low = at;
      let high = next;
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        if (offsetAt(timeZone, mid) === offset) low = mid;
        else high = mid;
      }
      changes.push({ at: high, before: offset, after: nextOffset });
    }
    at = next;
    offset = nextOffset;
  }
  if (changesByZoneYear.size >= MAX_CACHED) changesByZoneYear.clear();
  changesByZoneYear.set(key, changes);
  return changes;
}

/** How far the change searches look: zones change at least this often, or have stopped changing. */
const YEARS_AHEAD = 3;

/** The zone's first offset change strictly after `ms`, within a few years; null when none. */
export function nextOffsetChange(timeZone: string, ms: number): OffsetChange | null {
  const year = new Date(ms).getUTCFullYear();
  for (let y = year; y <= year + YEARS_AHEAD; y++) {
    const found = offsetChangesInYear(timeZone, y).find((c) => c.at > ms);
    if (found) return found;
  }
  return null;
}

/** The zone's last offset change at or before `ms`, within a few years; null when none. */
export function lastOffsetChange(timeZone: string, ms: number): OffsetChange | null {
  const year = new Date(ms).getUTCFullYear();
  for (let y = year; y >= year - YEARS_AHEAD; y--) {
    const changes = offsetChangesInYear(timeZone, y);
    for (let i = changes.length - 1; i >= 0; i--) if (changes[i].at <= ms) return changes[i];
  }
  return null;
}
