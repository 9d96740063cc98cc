/** The viewer's own time zone, as the browser knows it. */
export const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** An instant as a date and time in `zone`, with the zone's abbreviation ("7 Dec 2026, 09:00 GMT+8"); to the second when asked. */
export function formatInZone(iso: string | null | undefined, zone: string = VIEWER_ZONE, options: { seconds?: boolean } = {}): string {
  if (!iso) return '—';
  const key = `${zone}|${options.seconds ? 's' : 'm'}`;
  let formatter = formatters.get(key);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: options.seconds ? 'medium' : 'short', timeZone: zone, hourCycle: 'h23' });
    formatters.set(key, formatter);
  }
  const short = new Intl.DateTimeFormat('en-GB', { timeZone: zone, timeZoneName: 'short' })
    .formatToParts(new Date(iso))
    .find((part) => part.type === 'timeZoneName')?.value;
  return `${formatter.format(new Date(iso))}${short ? ` ${short}` : ''}`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "in 3 hours", "5 minutes ago". */
export function fromNow(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const seconds = (Date.parse(iso) - now) / 1000;
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ['day', 86_400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(Math.round(seconds), 'second');
}

/** A duration between two instants, or '—' when either is missing. */
export function durationBetween(start: string | null | undefined, end: string | null | undefined): string {
  if (!start || !end) return '—';
  return formatDuration(Date.parse(end) - Date.parse(start));
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** Every IANA zone the browser knows, for the time zone field's suggestions. */
export function knownZones(): string[] {
  return typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [VIEWER_ZONE, 'UTC'];
}
