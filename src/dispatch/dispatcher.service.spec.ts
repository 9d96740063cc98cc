import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { StorageUnavailable } from '../common/domain-errors.js';
import type { DispatchConfig } from '../config/app-config.js';
import type { ClaimedDelivery, DeliveryRecord } from '../domain/delivery.js';
import { fireWrite } from '../domain/fire.js';
import type { DeliveryStorage, OutboxBacklog } from '../storage/ports/delivery.storage.js';
import { aSchedule } from '../../test/support/builders.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { Metrics } from '../metrics/metrics.js';
import { DispatchHandOff } from '../storage/dispatch-hand-off.js';
import { OutboxNotifications } from '../storage/due-notifications.js';
import { DispatcherService, HELD_PER_SLOT, leaseMs } from './dispatcher.service.js';
import { captureNestLogs } from '../../test/support/captured-logs.js';

const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes, fine.').toString('base64')}`;

/**
 * The methods the dispatcher uses, over an in-process outbox, with switches for a storage that
 * fails. (The real storages' claims, leases and batches are proven by the storage contract.)
 */
class OutboxStub {
  outbox: ClaimedDelivery[] = [];
  readonly claims: Array<{ now: Date; limit: number; leaseUntil: Date }> = [];
  readonly recorded: DeliveryRecord[] = [];
  failClaims = 0;
  failRecords = 0;
  private readonly deliveries = new Map<string, ClaimedDelivery>();

  /** `count` new deliveries, in the outbox unless `handed` (then only returned, as the storage hands them over). */
  add(count: number, handed = false): ClaimedDelivery[] {
    const added = Array.from({ length: count }, () => {
      const schedule = aSchedule();
      const fire = fireWrite(schedule, new Date('2026-03-02T08:00:00.000Z'), 'manual', undefined, true);
      const delivery = { run: fire.run, schedule, session: fire.session, attemptsMade: 0 };
      this.deliveries.set(fire.run.id, delivery);
      return delivery;
    });
    if (!handed) this.outbox.push(...added);
    return added;
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    this.claims.push({ now, limit, leaseUntil });
    if (this.failClaims > 0) {
      this.failClaims--;
      throw new StorageUnavailable(undefined, { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') });
    }
    return this.outbox.splice(0, limit);
  }

  async recordDeliveryAttempts(records: readonly DeliveryRecord[]): Promise<void> {
    if (this.failRecords > 0) {
      this.failRecords--;
      throw new Error('deadlock detected');
    }
    this.recorded.push(...records);
    // A retry goes back in the outbox, as the storage makes it deliverable again.
    for (const { attempt, result } of records) {
      const delivery = this.deliveries.get(attempt.runId)!;
      if (result.outcome === 'retry') this.outbox.push({ ...delivery, attemptsMade: delivery.attemptsMade + 1 });
    }
  }

  async outboxBacklog(): Promise<OutboxBacklog> {
    return { count: this.outbox.length, oldestAvailableAt: null };
  }

  asStorage(): DeliveryStorage {
    return this as unknown as DeliveryStorage;
  }
}

/** A runtime that holds every request until released, counting how many are open at once. */
class HoldingReceiver {
  /** Requests received since the last reset. */
  received = 0;
  open = 0;
  maxOpen = 0;
  holding = true;
  /** What the next requests are answered (not held); then 200. */
  answers: Array<{ status: number; headers?: Record<string, string> }> = [];
  private held: ServerResponse[] = [];
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.open++;
      this.received++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      res.on('close', () => this.open--);
      req.resume();
      req.on('end', () => {
        const answer = this.answers.shift();
        if (answer) res.writeHead(answer.status, answer.headers).end();
        else if (this.holding) this.held.push(res);
        else res.end();
      });
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
    this.received = 0;
    this.answers = [];
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

  it('keeps at most `concurrency` webhooks in flight, and claims only what it has room for', async () => {
    outbox.add(30);
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config());
    dispatcher.onApplicationBootstrap();
    try {
      await until(() => receiver.open === 3, '3 requests held');
      // Room for HELD_PER_SLOT per slot: three sending, the rest queued.
      assert.deepEqual(
        outbox.claims.map((c) => c.limit),
        [3 * HELD_PER_SLOT],
      );
      assert.equal(dispatcher.room(), 0);
      receiver.release();
      await until(() => outbox.recorded.length === 30, 'every entry delivered');
      assert.equal(receiver.maxOpen, 3);
      assert.ok(outbox.claims.every((c) => c.limit >= 1 && c.limit <= 3 * HELD_PER_SLOT));
      assert.deepEqual(new Set(outbox.recorded.map((r) => r.result.outcome)), new Set(['delivered']));
    } finally {
      await dispatcher.beforeApplicationShutdown();
    }
  });

  it('claims again, while entries wait, once half its room is free: not one entry at a time', async () => {
    const room = 2 * HELD_PER_SLOT;
    outbox.add(room + 4);
    // No timed poll during the test: only room freed makes it claim.
    const dispatcher = new DispatcherService(outbox.asStorage(), clock, config({ concurrency: 2, pollIntervalMs: 60_000 }));
    dispatcher.onApplicationBootstrap();
    try {
      await until(() => receiver.open === 2, '2 requests held');
      for (let answered = 1; answered < room / 2; answered++) {
        receiver.releaseOne();
        await until(() => outbox.recorded.length === answered, `${answered} delivered`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(outbox.claims.map((c) => c.limit), [room], 'less than half the room free: no claim yet');
      receiver.releaseOne();
      await until(() => outbox.claims.length === 2, 'a second claim');
      assert.deepEqual(outbox.claims.map((c) => c.limit), [room, room / 2]);
      receiver.release();
      await until(() => outbox.recorded.length === room + 4, 'every entry delivered');
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

  it('on shutdown stops claiming, waits for the deliveries in flight, and sends none of those queued (their leases end)', async () => {
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
    assert.equal(receiver.received, 2);
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

  describe('woken rather than polled', () => {
    // No timed poll after the first within a test: whatever it does, it was woken to do.
    const quiet = (overrides: Partial<DispatchConfig> = {}) => config({ pollIntervalMs: 60_000, ...overrides });

    async function started(dispatchConfig: DispatchConfig, handOff = new DispatchHandOff(), notifications?: OutboxNotifications) {
      const dispatcher = new DispatcherService(outbox.asStorage(), clock, dispatchConfig, Metrics.none, handOff, notifications);
      dispatcher.onApplicationBootstrap();
      await until(() => outbox.claims.length === 1, 'the first poll');
      return { dispatcher, handOff };
    }

    it('sends what the storage hands over at once, leased as its claims are, without claiming it', async () => {
      receiver.release();
      const { dispatcher, handOff } = await started(quiet({ concurrency: 4, timeoutMs: 4000 }));
      try {
        const now = clock.now();
        const reservation = handOff.reserve(3, now);
        assert.equal(reservation.count, 3);
        assert.equal(reservation.leaseUntil!.getTime() - now.getTime(), leaseMs(4000));
        reservation.settle(outbox.add(3, true));
        await until(() => outbox.recorded.length === 3, 'the three delivered');
        assert.equal(outbox.claims.length, 1, 'nothing claimed');
        assert.deepEqual(new Set(outbox.recorded.map((r) => r.result.outcome)), new Set(['delivered']));
      } finally {
        await dispatcher.beforeApplicationShutdown();
      }
    });

    it('offers the storage only its room (what it sends and queues), and none once it is stopping', async () => {
      const { dispatcher, handOff } = await started(quiet({ concurrency: 2 }));
      try {
        handOff.reserve(1, clock.now()).settle(outbox.add(1, true));
        await until(() => receiver.open === 1, 'one request held');
        assert.equal(dispatcher.room(), 2 * HELD_PER_SLOT - 1);
        const reservation = handOff.reserve(100, clock.now());
        assert.equal(reservation.count, 2 * HELD_PER_SLOT - 1);
        assert.equal(handOff.reserve(5, clock.now()).count, 0, 'room reserved is not offered again');
        reservation.cancel();
        assert.equal(handOff.reserve(5, clock.now()).count, 5, 'a cancelled reservation frees its room');
      } finally {
        receiver.release();
        await dispatcher.beforeApplicationShutdown();
      }
      assert.equal(dispatcher.room(), 0);
      assert.equal(handOff.reserve(5, clock.now()).count, 0, 'a stopped dispatcher is detached');
    });

    it('drops a queued delivery that could no longer be sent and recorded within its lease', async () => {
      const { dispatcher, handOff } = await started(quiet({ concurrency: 1, timeoutMs: 1000 }));
      try {
        handOff.reserve(2, clock.now()).settle(outbox.add(2, true));
        await until(() => receiver.open === 1, 'the first sent, the second queued');
        // Leased for leaseMs(1000) = 3 s: 2.5 s on, the second would end past its lease.
        clock.advance(2500);
        receiver.release();
        await until(() => outbox.recorded.length === 1, 'the first recorded');
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(receiver.received, 1, 'the second was left to a claim once its lease ends');
      } finally {
        await dispatcher.beforeApplicationShutdown();
      }
    });

    it('claims at once when the storage says entries are deliverable', async () => {
      receiver.release();
      const { dispatcher, handOff } = await started(quiet());
      try {
        outbox.add(2);
        handOff.ready();
        await until(() => outbox.recorded.length === 2, 'the two delivered');
        assert.deepEqual(outbox.claims.map((c) => c.limit), [3 * HELD_PER_SLOT, 3 * HELD_PER_SLOT]);
      } finally {
        await dispatcher.beforeApplicationShutdown();
      }
    });

    it('claims at once when another replica says so, until it stops listening', async () => {
      receiver.release();
      const listeners = new Set<() => void>();
      const notifications = new (class extends OutboxNotifications {
        subscribe(listener: () => void): () => void {
          listeners.add(listener);
          return () => listeners.delete(listener);
        }
      })();
      const { dispatcher } = await started(quiet(), new DispatchHandOff(), notifications);
      try {
        outbox.add(1);
        for (const listener of listeners) listener();
        await until(() => outbox.recorded.length === 1, 'the one delivered');
      } finally {
        await dispatcher.beforeApplicationShutdown();
      }
      assert.equal(listeners.size, 0);
    });

    it('claims a retry when it comes due', async () => {
      receiver.release();
      receiver.answers = [{ status: 429, headers: { 'retry-after': '0' } }];
      const { dispatcher, handOff } = await started(quiet());
      try {
        handOff.reserve(1, clock.now()).settle(outbox.add(1, true));
        await until(() => outbox.recorded.length === 2, 'the retry delivered');
        assert.deepEqual(outbox.recorded.map((r) => r.result.outcome), ['retry', 'delivered']);
        assert.deepEqual(outbox.recorded.map((r) => r.attempt.statusCode), [429, 200]);
      } finally {
        await dispatcher.beforeApplicationShutdown();
      }
    });
  });
});
