import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import { describe, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { LogThrottle } from '../common/log-throttle.js';
import { redisSkipReason, TEST_REDIS_URL, testRedisClient } from '../../test/support/redis.js';
import { RATE_LIMIT_KEY_PREFIX, RedisCounters, ReportingStore } from './redis-counters.js';

type Result = { current: number; ttl: number } | undefined;

function incr(store: FastifyRateLimitStore, key: string, max = 5): Promise<{ error: Error | null; result: Result }> {
  return new Promise((resolve) => store.incr(key, (error, result) => resolve({ error, result }), 60_000, max));
}

/** A logger that keeps its lines, with a throttle on a clock the test moves. */
function recorder() {
  let now = 1_000_000;
  const lines: Array<['warn' | 'log', string]> = [];
  return {
    lines,
    advance: (ms: number) => (now += ms),
    options: {
      logger: { warn: (message: string) => void lines.push(['warn', message]), log: (message: string) => void lines.push(['log', message]) },
      throttle: new LogThrottle(10_000, () => now),
    },
  };
}

/** A local port with nothing listening: connections to it are refused at once. */
async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `redis://127.0.0.1:${port}`;
}

describe('ReportingStore', () => {
  const counting: FastifyRateLimitStore = {
    incr: (_key, callback) => callback(null, { current: 3, ttl: 42_000 }),
    child: () => counting,
  };
  const failing: FastifyRateLimitStore = {
    incr: (_key, callback) => callback(new Error('Connection is closed.')),
    child: () => failing,
  };

  it("passes the inner store's counts through without reporting", async () => {
    const failures: Error[] = [];
    const res = await incr(new ReportingStore(counting, (e) => failures.push(e)), 'user:a');
    assert.deepEqual(res, { error: null, result: { current: 3, ttl: 42_000 } });
    assert.deepEqual(failures, []);
  });

  it('reports each failed count, and still fails it (skipOnError decides what happens then)', async () => {
    const failures: Error[] = [];
    const store = new ReportingStore(failing, (e) => failures.push(e));
    const res = await incr(store.child({} as never), 'user:a');
    assert.equal(res.error?.message, 'Connection is closed.');
    assert.equal(failures.length, 1);
  });
});

describe('RedisCounters with Redis unreachable', () => {
  it('starts without it, lets counts fail fast, and says so once per interval, never with the URL', async () => {
    const log = recorder();
    const url = (await refusedUrl()).replace('redis://', 'redis://:hunter2-password@');
    const counters = new RedisCounters(url, log.options);
    try {
      assert.equal(await counters.firstConnection(), false);
      const Store = counters.storeClass();
      const store = new Store({});
      const started = Date.now();
      for (let i = 0; i < 20; i++) assert.ok((await incr(store, `user:${i}`)).error);
      assert.ok(Date.now() - started < 1000, 'a count waited for Redis');
      const warnings = log.lines.filter(([level]) => level === 'warn');
      assert.equal(warnings.length, 1, JSON.stringify(log.lines));
      assert.match(warnings[0][1], /^Rate limits are not enforced: Redis is unavailable \(.+\)$/);
      log.advance(10_000);
      await incr(store, 'user:x');
      assert.equal(log.lines.filter(([level]) => level === 'warn').length, 2);
      assert.match(log.lines.at(-1)![1], /more like this since the last report/);
      assert.doesNotMatch(JSON.stringify(log.lines), /hunter2/);
    } finally {
      await counters.close();
    }
    assert.ok(['end', 'reconnecting'].includes(counters.client.status), counters.client.status);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(['end', 'reconnecting'].includes(counters.client.status), 'the client reconnected after close()');
  });

  it('closes between two reconnection attempts, and makes no more', async () => {
    const counters = new RedisCounters(await refusedUrl(), recorder().options);
    await counters.firstConnection();
    await new Promise((resolve) => setTimeout(resolve, 20));
    let attempts = 0;
    counters.client.on('connecting', () => attempts++);
    await counters.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(attempts, 0);
  });
});

const skip = await redisSkipReason();

describe('RedisCounters on Redis', () => {
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }

  it('counts in the window under its key prefix, and closes its connection', async () => {
    const prefix = `${RATE_LIMIT_KEY_PREFIX}test-${uuidv7()}:`;
    const log = recorder();
    const counters = new RedisCounters(TEST_REDIS_URL, { ...log.options, keyPrefix: prefix });
    const redis = testRedisClient();
    await redis.connect();
    try {
      assert.equal(await counters.firstConnection(), true);
      const store = new (counters.storeClass())({});
      const first = await incr(store, 'user:alice');
      const second = await incr(store, 'user:alice');
      assert.equal(first.result?.current, 1);
      assert.equal(second.result?.current, 2);
      assert.ok(second.result!.ttl > 0 && second.result!.ttl <= 60_000, String(second.result?.ttl));
      assert.equal(await redis.get(`${prefix}user:alice`), '2');
      const pttl = await redis.pttl(`${prefix}user:alice`);
      assert.ok(pttl > 0 && pttl <= 60_000, String(pttl));
      assert.deepEqual(log.lines, []);
    } finally {
      await counters.close();
      await redis.del(`${prefix}user:alice`);
      redis.disconnect();
    }
    assert.equal(counters.client.status, 'end');
  });

  it('says once when Redis is back, and counts again', async () => {
    const url = await refusedUrl();
    const log = recorder();
    const prefix = `${RATE_LIMIT_KEY_PREFIX}test-${uuidv7()}:`;
    const counters = new RedisCounters(url, { ...log.options, keyPrefix: prefix });
    // Redis "comes back": a proxy to the test's Redis starts listening on the refused port.
    const target = new URL(TEST_REDIS_URL);
    const proxy = createServer((socket) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
    });
    try {
      assert.equal(await counters.firstConnection(), false);
      const store = new (counters.storeClass())({});
      assert.ok((await incr(store, 'user:alice')).error);
      await new Promise<void>((resolve) => proxy.listen(Number(new URL(url).port), '127.0.0.1', resolve));
      await new Promise((resolve) => counters.client.once('ready', resolve));
      assert.deepEqual(
        log.lines.map(([level, line]) => [level, line.replace(/\(.*\)/, '(…)')]),
        [
          ['warn', 'Rate limits are not enforced: Redis is unavailable (…)'],
          ['log', 'Redis is reachable again: rate limits are enforced'],
        ],
      );
      assert.equal((await incr(store, 'user:alice')).result?.current, 1);
      await counters.client.del(`${prefix}user:alice`);
    } finally {
      await counters.close();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
