/**
 * How long the ticker waits before claiming again when the earliest next run it knows of is
 * already due but was not claimed: another replica holds it (its claim has not committed yet),
 * and will advance it. Short, so that what that replica leaves for later is taken soon.
 */
export const HELD_DUE_RETRY_MS = 100;

/** What the ticker knows after a tick (instants in ms since the epoch, by the injected Clock). */
export interface AfterTick {
  now: number;
  /** The earliest next run of any schedule (FiringStorage.nextDueAt), or null when none has one. */
  nextDueAt: number | null;
  /** The `now` of the tick's last claim: whatever was due then and is still there was held elsewhere. */
  lastClaimAt: number;
  /**
   * The earliest instant a write announced while the tick ran (SchedulerWakeUp), or null. Its
   * write may have committed after the claim and the nextDueAt read looked, so it is trusted
   * even when it was due at the claim.
   */
  announcedAt: number | null;
  /** SCHEDULER_INTERVAL_MS: the longest sleep, which also bounds how late anything unannounced fires. */
  maxMs: number;
}

/** How long the ticker sleeps after a tick: until the earliest next run it knows of, within [0, maxMs]. */
export function sleepAfterTick({ now, nextDueAt, lastClaimAt, announcedAt, maxMs }: AfterTick): number {
  const clamp = (ms: number) => Math.min(Math.max(ms, 0), maxMs);
  let sleep = maxMs;
  if (nextDueAt !== null) sleep = nextDueAt <= lastClaimAt ? Math.min(HELD_DUE_RETRY_MS, maxMs) : clamp(nextDueAt - now);
  if (announcedAt !== null) sleep = Math.min(sleep, clamp(announcedAt - now));
  return sleep;
}
