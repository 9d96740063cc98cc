import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { DueNotifications, type DueListener, SingleProcessDueNotifications } from '../storage/due-notifications.js';
import { FiringOnMemory } from '../../test/support/firing-on-memory.js';
import type { ClaimOutcome, DueFirePlan } from '../domain/fire.js';
import type { Schedule } from '../domain/schedule.js';
import { aSchedule } from '../../test/support/builders.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { ManualTimers } from '../../test/support/manual-timers.js';
import { SchedulerWakeUp } from './scheduler-wake-up.js';
import { SchedulerService } from './scheduler.service.js';
import { DispatchMode } from '../config/dispatch-mode.js';
import { Metrics } from '../metrics/metrics.js';
import { HELD_DUE_RETRY_MS } from './tick-delay.js';

const MAX_SLEEP_MS = 60_000;

/** Notifications between processes, as a test sees them: what was published, and a way to hear another replica. */
class RecordedNotifications extends DueNotifications {
  readonly published: Date[] = [];
  private readonly listeners = new Set<DueListener>();

  async publish(at: Date): Promise<void> {
    this.published.push(at);
  }

  subscribe(listener: DueListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Another replica published `at`. */
  fromElsewhere(at: Date): void {
    for (const listener of this.listeners) listener(at);
  }

  get listening(): number {
    return this.listeners.size;
  }
}

/** The memory storage's firing port, whose claims can find everything held by another replica, and which can run something while it reads nextDueAt. */
class TestStorage extends FiringOnMemory {
  heldElsewhere = false;
  down = false;
  duringNextDueAt: (() => void) | undefined;

  override async claimDueSchedules(now: Date, limit: number, plan: (s: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    if (this.down) throw new Error('the database is down');
    if (this.heldElsewhere) return [];
    return super.claimDueSchedules(now, limit, plan);
  }

  override async nextDueAt(): Promise<Date | null> {
    const next = await super.nextDueAt();
    this.duringNextDueAt?.();
    this.duringNextDueAt = undefined;
    return next;
  }
}

let stop: (() => Promise<void>) | undefined;
let warnings: string[];
beforeEach(() => {
  warnings = [];
  const logger: LoggerService = { log: () => undefined, error: () => undefined, warn: (message: unknown) => void warnings.push(String(message)) };
  Logger.overrideLogger(logger);
});
afterEach(async () => {
  await stop?.();
  stop = undefined;
  Logger.overrideLogger(false);
});

/** A started ticker on a manual clock and manual timers, its first tick done. */
async function startedTicker(notifications: DueNotifications = new RecordedNotifications()) {
  const clock = new ManualClock();
  const storage = new TestStorage();
  const timers = new ManualTimers();
  const config = { enabled: true, intervalMs: MAX_SLEEP_MS, batchSize: 10 };
  const wakeUp = new SchedulerWakeUp(notifications, clock, config);
  const scheduler = new SchedulerService(storage, clock, config, new DispatchMode(false), Metrics.none, wakeUp, timers);
  await scheduler.onApplicationBootstrap();
  stop = () => scheduler.beforeApplicationShutdown();
  assert.equal(timers.delay, 0);
  const firstSleep = await timers.runAndWaitForNext();
  const inMs = (ms: number) => new Date(clock.now().getTime() + ms);
  const schedule = async (nextRunAt: Date) => {
    const s = aSchedule({ userId: 'u', cronExpression: '* * * * *', timezone: 'UTC', nextRunAt });
    await storage.schedules.createSchedule(s);
    return s;
  };
  return { clock, storage, timers, wakeUp, scheduler, firstSleep, inMs, schedule };
}

describe('SchedulerService sleeping until the next run', () => {
  it('sleeps the maximum when nothing is planned, and again after each idle tick', async () => {
    const { timers, firstSleep } = await startedTicker();
    assert.equal(firstSleep, MAX_SLEEP_MS);
    assert.equal(await timers.runAndWaitForNext(), MAX_SLEEP_MS);
  });

  it('sleeps until the earliest next run in storage, and fires it then', async () => {
    const { clock, storage, timers, inMs, schedule } = await startedTicker();
    const due = await schedule(inMs(1500));
    await schedule(inMs(4000));
    assert.equal(await timers.runAndWaitForNext(), 1500);
    clock.advance(1500);
    await timers.runAndWaitForNext();
    assert.equal((await storage.history.listRunsBySchedule('u', due.id)).length, 1);
    assert.equal(timers.delay, 2500);
  });

  it('retries shortly when what is due is held by another replica, and after the maximum when the tick fails', async () => {
    const { storage, timers, inMs, schedule } = await startedTicker();
    await schedule(inMs(-1000));
    storage.heldElsewhere = true;
    assert.equal(await timers.runAndWaitForNext(), HELD_DUE_RETRY_MS);
    storage.down = true;
    storage.heldElsewhere = false;
    assert.equal(await timers.runAndWaitForNext(), MAX_SLEEP_MS);
  });
});

describe('SchedulerService woken by an announced next run', () => {
  it('wakes at the announced run when it is earlier than planned, and ignores a later one', async () => {
    const { clock, storage, timers, wakeUp, inMs, schedule } = await startedTicker();
    assert.equal(timers.delay, MAX_SLEEP_MS);
    const s = await schedule(inMs(2000));
    await wakeUp.nextRunSet(s.nextRunAt);
    assert.equal(timers.count, 1);
    assert.equal(timers.delay, 2000);
    await wakeUp.nextRunSet(inMs(5000));
    await wakeUp.nextRunSet(null);
    assert.equal(timers.delay, 2000);
    clock.advance(2000);
    await timers.runAndWaitForNext();
    assert.equal((await storage.history.listRunsBySchedule('u', s.id)).length, 1);
  });

  it('ticks at once for an announced run already due', async () => {
    const { timers, wakeUp, inMs } = await startedTicker();
    await wakeUp.nextRunSet(inMs(-10));
    assert.equal(timers.delay, 0);
  });

  it('wakes for a run another replica announced, and stops listening on shutdown', async () => {
    const notifications = new RecordedNotifications();
    const { timers, scheduler, inMs } = await startedTicker(notifications);
    assert.equal(notifications.listening, 1);
    notifications.fromElsewhere(inMs(300));
    assert.equal(timers.delay, 300);
    notifications.fromElsewhere(new Date(0));
    assert.equal(timers.delay, 0);
    await scheduler.beforeApplicationShutdown();
    assert.equal(notifications.listening, 0);
    assert.equal(timers.count, 0);
  });

  it('keeps a run announced during a tick for the sleep after it', async () => {
    const { storage, timers, wakeUp, inMs } = await startedTicker();
    storage.duringNextDueAt = () => void wakeUp.nextRunSet(inMs(700));
    assert.equal(await timers.runAndWaitForNext(), 700);
  });

  it('tells other replicas of a run due within one maximum sleep, and of none further off', async () => {
    const notifications = new RecordedNotifications();
    const { wakeUp, inMs } = await startedTicker(notifications);
    await wakeUp.nextRunSet(inMs(MAX_SLEEP_MS - 1));
    await wakeUp.nextRunSet(inMs(MAX_SLEEP_MS));
    assert.deepEqual(notifications.published, [inMs(MAX_SLEEP_MS - 1)]);
  });

  it('never fails the write that announces, when the others cannot be told', async () => {
    const failing = new (class extends SingleProcessDueNotifications {
      override async publish(): Promise<void> {
        throw new Error('connection refused');
      }
    })();
    const { wakeUp, inMs } = await startedTicker(failing);
    await wakeUp.nextRunSet(inMs(10));
    assert.deepEqual(warnings, [`Could not tell the other replicas of a schedule due at ${inMs(10).toISOString()}: connection refused`]);
  });
});
