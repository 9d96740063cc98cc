/** How often a repeated event is logged at most: once per this many milliseconds per kind. */
export const LOG_THROTTLE_INTERVAL_MS = 10_000;

/** At most this many kinds are remembered; past it the oldest are forgotten (and may log again). */
const MAX_KINDS = 1000;

/**
 * Keeps a failure that repeats (every request during an outage, every tick) from flooding the
 * logs: each kind of event is logged at most once per interval, and that line tells how many
 * events of its kind were left out since the previous one.
 */
export class LogThrottle {
  private readonly kinds = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = LOG_THROTTLE_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Calls `log` with the number of events of this kind left out since its last line, unless a
   * line of this kind was logged less than the interval ago (then it only counts the event).
   */
  run(kind: string, log: (suppressed: number) => void): void {
    const now = this.now();
    const seen = this.kinds.get(kind);
    // (A clock that went back counts as the interval having passed: a line too many, never none for long.)
    if (seen && now >= seen.loggedAt && now - seen.loggedAt < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.kinds.delete(kind);
    if (this.kinds.size >= MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
    this.kinds.set(kind, { loggedAt: now, suppressed: 0 });
    log(suppressed);
  }

  /** Events of this kind counted but not logged since its last line (0 for a kind never seen). */
  suppressed(kind: string): number {
    return this.kinds.get(kind)?.suppressed ?? 0;
  }

  /** Forgets a kind: its next event logs at once (say, once the failure it counted is over). */
  reset(kind: string): void {
    this.kinds.delete(kind);
  }
}

/** ` (N similar since the last report)`, or nothing when none was left out. */
export function suppressedSuffix(suppressed: number): string {
  return suppressed > 0 ? ` (${suppressed} more like this since the last report)` : '';
}
