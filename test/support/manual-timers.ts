import { Timers } from '../../src/firing/timers.js';

/** Timers that run only when the test says so; it sees each timer's delay. */
export class ManualTimers extends Timers {
  private readonly pending = new Map<number, { callback: () => void; delayMs: number }>();
  private last = 0;
  private waiting: ((delayMs: number) => void) | undefined;

  set(callback: () => void, delayMs: number): unknown {
    const handle = ++this.last;
    this.pending.set(handle, { callback, delayMs });
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(delayMs);
    return handle;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** The delay of the one timer pending; throws unless there is exactly one. */
  get delay(): number {
    return this.only().delayMs;
  }

  /** How many timers are pending. */
  get count(): number {
    return this.pending.size;
  }

  /** Runs the one timer pending, and resolves with the delay of the next one set (the ticker sets it when its tick ends). */
  runAndWaitForNext(): Promise<number> {
    const next = new Promise<number>((resolve) => (this.waiting = resolve));
    const [handle, timer] = [...this.pending][0] ?? [];
    if (handle === undefined || !timer || this.pending.size !== 1) throw new Error(`${this.pending.size} timers pending, not one`);
    this.pending.delete(handle);
    timer.callback();
    return next;
  }

  private only(): { callback: () => void; delayMs: number } {
    if (this.pending.size !== 1) throw new Error(`${this.pending.size} timers pending, not one`);
    return [...this.pending.values()][0]!;
  }
}
