import { Clock } from '../../src/common/clock.js';

/** A clock that moves only when the test says so. */
export class ManualClock extends Clock {
  constructor(private current: Date = new Date('2026-03-02T08:00:00.000Z')) {
    super();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(at: Date | string): void {
    this.current = new Date(at);
  }

  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}
