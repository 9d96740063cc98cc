import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { StorageUnavailable } from '../common/domain-errors.js';
import type { DispatchConfig } from '../config/app-config.js';
import type { ClaimedDelivery, DeliveryResult } from '../domain/delivery.js';
import { fireWrite } from '../domain/fire.js';
import type { DispatchAttempt } from '../domain/run.js';
import type { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { aSchedule } from '../../test/support/builders.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { DispatcherService, leaseMs } from './dispatcher.service.js';
import { captureNestLogs } from '../../test/support/captured-logs.js';

const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes, fine.').toString('base64')}`;

/**
 * The two methods the dispatcher uses, over an in-process outbox, with switches for a storage
 * that fails. (The real storages' claims and leases are proven by the storage contract.)
 */
class OutboxStub {
  outbox: ClaimedDelivery[] = [];
  readonly claims: Array<{ now: Date; limit: number; leaseUntil: Date }> = [];
  readonly recorded: Array<{ attempt: DispatchAttempt; result: DeliveryResult }> = [];
  failClaims = 0;
  failRecords = 0;

  add(count: number): void {
    for (let i = 0; i < count; i++) {
      const schedule = aSchedule();
      const fire = fireWrite(schedule, new Date('2026-03-02T08:00:00.000Z'), 'manual', undefined, true);
      this.outbox.push({ run: fire.run, schedule, session: fire.session, attemptsMade: 0 });
    }
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    this.claims.push({ now, limit, leaseUntil });
    if (this.failClaims > 0) {
      this.failClaims--;
      throw new StorageUnavailable(undefined, { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') });
    }
    return this.outbox.splice(0, limit);
  }

  async recordDeliveryAttempt(attempt: DispatchAttempt, result: DeliveryResult): Promise<void> {
    if (this.failRecords > 0) {
      this.failRecords--;
      throw new Error('deadlock detected');
    }
    this.recorded.push({ attempt, result });
  }

  asStorage(): DeliveryStorage {
    return this as unknown as DeliveryStorage;
  }
}

/** A runtime that holds every request until released, counting how many are open at once. */
class HoldingReceiver {
  open = 0;
  maxOpen = 0;
  holding = true;
  private held: ServerResponse[] = [];
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on('close', () => this.open--);
      req.resume();
      req.on('end', () => (this.holding ? this.held.push(res) : res.end()));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  /** Answers the request held longest, and keeps holding the rest. */
  releaseOne(): void {
    this.held.shift()?.end();
  }

  release(): void {
    this.holding = false;
    for (const res of this.held.splice(0)) res.end();
  }

  reset(): void {
    this.holding = true;
    this.maxOpen = this.open;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const of = captureNestLogs();

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('DispatcherService', () => {
  const receiver = new HoldingReceiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());
  beforeEach(() => receiver.reset());

  let outbox: OutboxStub;
  let clock: ManualClock;
  beforeEach(() => {
    outbox = new OutboxStub();
    clock = new ManualClock();
  });
  const config = (overrides: Partial<DispatchConfig> = {}): DispatchConfig => ({
    url: receiver.url,
    secret: SECRET,
    enabled: true,
    concurrency: 3,
    timeoutMs: 5000,
    maxAttempts: 8,
    pollIntervalMs: 5,
    ...overrides,
  });

  it('keeps at most `concurrency` deliveries in flight, claiming only for free slots', async () => {
    outbox.add(10);
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config());
    dispatcher.onApplicationBootstrap();
    try {
      await until(() => receiver.open === 3, '3 requests held');
      assert.deepEqual(
        outbox.claims.map((c) => c.limit),
        [3],
      );
      receiver.release();
      await until(() => outbox.recorded.length === 10, 'every entry delivered');
      assert.equal(receiver.maxOpen, 3);
      assert.ok(outbox.claims.every((c) => c.limit >= 1 && c.limit <= 3));
      assert.deepEqual(new Set(outbox.recorded.map((r) => r.result.outcome)), new Set(['delivered']));
    } finally {
      await dispatcher.beforeApplicationShutdown();
    }
  });

  it('claims again, while entries wait, once half its slots are free: not one entry at a time', async () => {
    outbox.add(9);
    // No timed poll during the test: only freed slots make it claim.
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ concurrency: 4, pollIntervalMs: 60_000 }));
    dispatcher.onApplicationBootstrap();
    try {
      await until(() => receiver.open === 4, '4 requests held');
      receiver.releaseOne();
      await until(() => outbox.recorded.length === 1, 'one delivered');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(outbox.claims.map((c) => c.limit), [4], 'one slot of four free: no claim yet');
      receiver.releaseOne();
      await until(() => receiver.open === 4, 'two more claimed and sent');
      assert.deepEqual(outbox.claims.map((c) => c.limit), [4, 2]);
      receiver.release();
      await until(() => outbox.recorded.length === 9, 'every entry delivered');
      assert.ok(outbox.claims.slice(1).every((c) => c.limit >= 2), JSON.stringify(outbox.claims.map((c) => c.limit)));
    } finally {
      await dispatcher.beforeApplicationShutdown();
    }
  });

  it('leases what it claims for twice the timeout plus a second', async () => {
    outbox.add(1);
    receiver.release();
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ enabled: false, timeoutMs: 4000 }));
    assert.equal(await dispatcher.drain(), 1);
    assert.equal(leaseMs(4000), 9000);
    const [claim] = outbox.claims;
    assert.equal(claim.leaseUntil.getTime() - claim.now.getTime(), 9000);
  });

  it('drain() delivers batch after batch until nothing is left, and counts the attempts', async () => {
    outbox.add(5);
    receiver.release();
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ enabled: false, concurrency: 2 }));
    assert.equal(await dispatcher.drain(), 5);
    assert.deepEqual(
      outbox.claims.map((c) => c.limit),
      [2, 2, 2, 2],
    );
    assert.equal(outbox.recorded.length, 5);
    const [{ attempt }] = outbox.recorded;
    assert.equal(attempt.at.getTime(), clock.now().getTime());
    assert.equal(attempt.statusCode, 200);
    assert.equal(attempt.error, null);
    assert.equal(await dispatcher.drain(), 0);
  });

  it('survives a storage that fails: logs once per interval, polls again, delivers once it is back', async () => {
    outbox.add(1);
    outbox.failClaims = 20;
    receiver.release();
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config());
    dispatcher.onApplicationBootstrap();
    try {
      await until(() => outbox.recorded.length === 1, 'the delivery once the storage is back');
      assert.deepEqual(of('error'), [
        'Claiming deliveries failed; retrying every poll: the storage is unavailable (connect ECONNREFUSED 127.0.0.1:5432)',
      ]);
      assert.deepEqual(of('log'), ['Claiming deliveries again after 20 failed poll(s)']);
    } finally {
      await dispatcher.beforeApplicationShutdown();
    }
  });

  it('logs an attempt it could not record, and goes on with the others', async () => {
    outbox.add(2);
    outbox.failRecords = 1;
    receiver.release();
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ enabled: false }));
    assert.equal(await dispatcher.drain(), 2);
    assert.equal(outbox.recorded.length, 1);
    assert.equal(of('error').length, 1);
    assert.match(of('error')[0], /^Delivering run \S+ failed; it will be delivered again once its lease ends: deadlock detected$/);
  });

  it('on shutdown stops claiming and waits for the deliveries in flight', async () => {
    outbox.add(5);
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ concurrency: 2 }));
    dispatcher.onApplicationBootstrap();
    await until(() => receiver.open === 2, '2 requests held');
    let stopped = false;
    const stopping = dispatcher.beforeApplicationShutdown().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false);
    const claimsBefore = outbox.claims.length;
    receiver.release();
    await stopping;
    assert.equal(outbox.recorded.length, 2);
    assert.equal(outbox.claims.length, claimsBefore);
    assert.equal(outbox.outbox.length, 3);
  });

  it('logs a give-up at warn, with the run id and the error, never the body', async () => {
    outbox.add(1);
    const down = config({ enabled: false, url: 'http://127.0.0.1:9/', maxAttempts: 1 });
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, down);
    assert.equal(await dispatcher.drain(), 1);
    const [{ attempt, result }] = outbox.recorded;
    assert.equal(attempt.statusCode, null);
    assert.equal(result.outcome, 'gave-up');
    assert.equal(of('warn').length, 1);
    assert.match(of('warn')[0], /^Delivery of run \S+ gave up; the run failed: .+ \(gave up after 1 attempt\)$/);
    assert.doesNotMatch(of('warn')[0], /whsec_|Daily digest/);
  });
});
