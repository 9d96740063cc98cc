/** setTimeout and clearTimeout as an injection token, so that tests run the ticker's timer by hand. */
export abstract class Timers {
  /** Calls `callback` once, after `delayMs`; returns what `clear` takes. */
  abstract set(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer `set` returned (nothing if it ran, was cleared, or is undefined). */
  abstract clear(handle: unknown): void;
}

export class SystemTimers extends Timers {
  set(callback: () => void, delayMs: number): unknown {
    return setTimeout(callback, delayMs);
  }

  clear(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout | undefined);
  }
}
