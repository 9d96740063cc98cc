import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { StorageUnavailable } from '../common/domain-errors.js';
import type { ClaimOutcome, DueFirePlan } from '../domain/fire.js';
import type { Schedule } from '../domain/schedule.js';
import { FiringOnMemory } from '../../test/support/firing-on-memory.js';
import { aSchedule } from '../../test/support/builders.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { SchedulerService } from './scheduler.service.js';
import { captureNestLogs } from '../../test/support/captured-logs.js';

/** The memory storage's firing port, whose claims can fail (the database is down) or find everything held elsewhere. */
class SwitchableStorage extends FiringOnMemory {
  down = false;
  heldElsewhere = false;
  claims = 0;

  override async claimDueSchedules(now: Date, limit: number, plan: (s: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    this.claims++;
    if (this.down) throw new StorageUnavailable(undefined, { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') });
    if (this.heldElsewhere) return [];
    return super.claimDueSchedules(now, limit, plan);
  }
}

const of = captureNestLogs();

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SchedulerService under a failing storage', () => {
  it('logs failed ticks once per interval with a count, keeps ticking, and fires again once the storage is back', async () => {
    const clock = new ManualClock();
    const storage = new SwitchableStorage();
    // One claim per tick, so that claims count ticks.
    const scheduler = new SchedulerService(storage, clock, { enabled: true, intervalMs: 2, batchSize: 10, claimsInFlight: 1 });
    storage.down = true;
    await scheduler.onApplicationBootstrap();
    try {
      await until(() => storage.claims >= 20, '20 failed ticks');
      assert.deepEqual(of('error'), ['Tick failed; retrying every tick: the storage is unavailable (connect ECONNREFUSED 127.0.0.1:5432)']);

      clock.advance(10_000);
      const before = storage.claims;
      await until(() => storage.claims >= before + 5, 'more failed ticks');
      const errors = of('error');
      assert.equal(errors.length, 2);
      const suppressed = Number(/\((\d+) more like this since the last report\)$/.exec(errors[1])?.[1]);
      assert.ok(suppressed >= 19, errors[1]);

      const schedule = aSchedule({ userId: 'u', cronExpression: '* * * * *', timezone: 'UTC', nextRunAt: new Date(clock.now().getTime() - 1000) });
      await storage.schedules.createSchedule(schedule);
      storage.down = false;
      await until(async () => (await storage.history.listRunsBySchedule('u', schedule.id)).length === 1, 'the due schedule to fire');
      await until(() => of('log').length > 0, 'the recovery line');
      assert.match(of('log')[0], /^Ticking again after \d+ failed tick\(s\)$/);
      assert.equal(of('error').length, 2);
    } finally {
      await scheduler.beforeApplicationShutdown();
    }
  });
});

describe('SchedulerService when it falls behind', () => {
  const config = { enabled: false, intervalMs: 1000, batchSize: 2 };

  it('says nothing while fires are on time', async () => {
    const clock = new ManualClock();
    const storage = new SwitchableStorage();
    const scheduler = new SchedulerService(storage, clock, config);
    await storage.schedules.createSchedule(aSchedule({ cronExpression: '* * * * *', timezone: 'UTC', nextRunAt: new Date(clock.now().getTime() - 2000) }));
    assert.equal(await scheduler.tick(), 1);
    assert.deepEqual([...of('log'), ...of('warn'), ...of('error')], []);
  });

  it('warns, once per interval, with how late the fires were and what is still due', async () => {
    const clock = new ManualClock();
    const storage = new SwitchableStorage();
    const scheduler = new SchedulerService(storage, clock, config);
    const hourAgo = new Date(clock.now().getTime() - 3_600_000);
    for (let i = 0; i < 3; i++) await storage.schedules.createSchedule(aSchedule({ cronExpression: '0 0 1 1 *', timezone: 'UTC', nextRunAt: hourAgo }));
    assert.equal(await scheduler.tick(), 3);
    assert.deepEqual(of('warn'), [
      "The scheduler is behind: backlog 0 schedule(s) due and not yet claimed; the last tick fired 3, up to 3600 s late. " +
        "Fires within a schedule's catch-up window coalesce into one; older ones are recorded as missed",
    ]);

    // Due work that this replica cannot claim (another holds it, or claims fail to keep up).
    storage.heldElsewhere = true;
    const minuteAgo = new Date(clock.now().getTime() - 60_000);
    for (let i = 0; i < 2; i++) await storage.schedules.createSchedule(aSchedule({ cronExpression: '0 0 1 1 *', timezone: 'UTC', nextRunAt: minuteAgo }));
    await scheduler.tick();
    await scheduler.tick();
    assert.equal(of('warn').length, 1);
    clock.advance(10_000);
    await scheduler.tick();
    assert.equal(of('warn').length, 2);
    assert.match(
      of('warn')[1],
      /^The scheduler is behind: backlog 2 schedule\(s\) due and not yet claimed, the oldest 70 s late; the last tick fired 0, up to 0 s late\. .* \(2 more like this since the last report\)$/,
    );
  });
});

/** The memory storage's firing port, whose claims wait until released, so that a test sees how many are in flight at once. */
class GatedStorage extends FiringOnMemory {
  inFlight = 0;
  mostInFlight = 0;
  private gates: Array<() => void> = [];

  override async claimDueSchedules(now: Date, limit: number, plan: (s: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve) => this.gates.push(resolve));
      return await super.claimDueSchedules(now, limit, plan);
    } finally {
      this.inFlight--;
    }
  }

  /** Lets every claim waiting now go on; returns how many there were. */
  release(): number {
    const gates = this.gates.splice(0);
    gates.forEach((open) => open());
    return gates.length;
  }
}

describe('SchedulerService claims in flight', () => {
  async function tickWith(claimsInFlight: number | undefined, due: number) {
    const clock = new ManualClock();
    const storage = new GatedStorage();
    const scheduler = new SchedulerService(storage, clock, { enabled: false, intervalMs: 1000, batchSize: 2, claimsInFlight });
    const past = new Date(clock.now().getTime() - 1000);
    for (let i = 0; i < due; i++) await storage.schedules.createSchedule(aSchedule({ cronExpression: '0 0 1 1 *', timezone: 'UTC', nextRunAt: past }));
    const tick = scheduler.tick();
    const rounds: number[] = [];
    for (let released = -1; released !== 0; ) {
      await new Promise((resolve) => setImmediate(resolve));
      released = storage.release();
      if (released > 0) rounds.push(released);
    }
    return { fired: await tick, rounds, mostInFlight: storage.mostInFlight };
  }

  it('keeps two claims in flight by default while more is due, each until a batch comes back short', async () => {
    // 5 due in batches of 2: two claims take 2 and 2, then one takes the last and the other finds none.
    const { fired, rounds, mostInFlight } = await tickWith(undefined, 5);
    assert.equal(fired, 5);
    assert.equal(mostInFlight, 2);
    assert.deepEqual(rounds, [2, 2]);
  });

  it('claims one batch at a time when told to', async () => {
    const { fired, rounds, mostInFlight } = await tickWith(1, 5);
    assert.equal(fired, 5);
    assert.equal(mostInFlight, 1);
    assert.deepEqual(rounds, [1, 1, 1]);
  });
});
