import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { JSON_BODY_LIMITS } from '../src/common/json-body.js';
import { aRuntimeToken } from './support/dispatch.js';
import { PROBLEM_JSON } from './support/problem.js';
import { rateLimitRedisKey, redisSkipReason, TEST_REDIS_URL, testRedisClient } from './support/redis.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { freePort } from './support/ports.js';

/** Requests per caller per minute in these tests. */
const N = 5;
const ROOT = join(import.meta.dirname, '..');
/** The built service (`npm test` builds it first), started as deployed; TEST_SERVICE_MAIN names another build. */
const MAIN = process.env.TEST_SERVICE_MAIN ?? join(ROOT, 'dist/src/main.js');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
}

interface Call {
  user?: string;
  /** The caller's address (each test its own, so that per-IP budgets do not mix). */
  ip?: string;
  headers?: Record<string, string>;
  /** Sent as is, with content-type application/json. */
  payload?: string;
}

function caller(app: () => NestFastifyApplication) {
  return async (method: 'GET' | 'POST', url: string, call: Call = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...call.headers };
    if (call.user !== undefined) headers['x-user-id'] = call.user;
    if (call.payload !== undefined) headers['content-type'] = 'application/json';
    const res = await app().inject({ method, url, headers, remoteAddress: call.ip ?? '127.0.0.1', payload: call.payload });
    const json = /json/.test(String(res.headers['content-type'])) && res.body !== '';
    return { status: res.statusCode, headers: res.headers, body: json ? JSON.parse(res.body) : res.body };
  };
}

/** A fresh caller address per test: 10.x.y.z. */
let ips = 0;
const newIp = () => `10.${(++ips >> 16) & 255}.${(ips >> 8) & 255}.${ips & 255}`;
const newUser = () => `user-${uuidv7()}`;

const header = (res: Reply, name: string) => (res.headers[name] === undefined ? undefined : Number(res.headers[name]));

/** An answer within the budget: the RateLimit-* headers say how much of it is left, and no Retry-After. */
function assertCounted(res: Reply, remaining: number): void {
  assert.notEqual(res.status, 429, JSON.stringify(res.body));
  assert.equal(header(res, 'ratelimit-limit'), N);
  assert.equal(header(res, 'ratelimit-remaining'), remaining);
  const reset = header(res, 'ratelimit-reset')!;
  assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset ${reset}`);
  assert.equal(res.headers['retry-after'], undefined);
}

/** The 429: the rate-limited problem body, Retry-After within the window, the RateLimit-* headers agreeing with it. */
function assertRateLimited(res: Reply, path: string): void {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  assert.match(String(res.headers['content-type']), PROBLEM_JSON);
  const retryAfter = header(res, 'retry-after')!;
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${res.headers['retry-after']}`);
  assert.deepEqual(res.body, {
    type: 'urn:schedule-service:problem:rate-limited',
    title: 'Too many requests',
    status: 429,
    detail: `Too many requests; retry in ${retryAfter} s.`,
    instance: path,
  });
  assert.equal(header(res, 'ratelimit-limit'), N);
  assert.equal(header(res, 'ratelimit-remaining'), 0);
  assert.equal(header(res, 'ratelimit-reset'), retryAfter);
}

/** No limit applies: no 429 and no RateLimit-* headers. */
function assertNotLimited(res: Reply): void {
  assert.notEqual(res.status, 429);
  for (const name of ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after']) {
    assert.equal(res.headers[name], undefined, `${name} on ${res.status}`);
  }
}

describe(`rate limits per process (RATE_LIMIT_PER_MINUTE=${N})`, () => {
  const runtimeToken = aRuntimeToken();
  let testApp: TestApp;
  const call = caller(() => testApp.app);

  beforeAll(async () => {
    testApp = await createTestApp('memory', { rateLimit: { perMinute: N, redisUrl: null }, runtimeToken });
  });
  afterAll(() => testApp?.close());

  /** Spends a whole budget: N answers, each counted. */
  async function exhaust(call_: Call): Promise<void> {
    for (let i = 1; i <= N; i++) assertCounted(await call('GET', '/schedule', call_), N - i);
  }

  it("answers a user's N+1st request in a window with 429, a problem body, Retry-After and RateLimit-*", async () => {
    const alice = newUser();
    const ip = newIp();
    await exhaust({ user: alice, ip });
    assertRateLimited(await call('GET', '/schedule', { user: alice, ip }), '/schedule');
    // Every route spends the same budget; the 429s keep coming within the window.
    assertRateLimited(await call('GET', '/schedule/some-id', { user: alice, ip }), '/schedule/some-id');
    assertRateLimited(await call('POST', '/schedule', { user: alice, ip, payload: '{}' }), '/schedule');
  });

  it('counts each user on their own: another user, from the same address, still gets 200', async () => {
    const ip = newIp();
    const alice = newUser();
    await exhaust({ user: alice, ip });
    assert.equal((await call('GET', '/schedule', { user: alice, ip })).status, 429);
    const res = await call('GET', '/schedule', { user: newUser(), ip });
    assert.equal(res.status, 200);
    assertCounted(res, N - 1);
  });

  it('counts callers without an identity per IP address, a failed identity included', async () => {
    const ip = newIp();
    for (let i = 1; i <= N; i++) {
      // No header, then an unusable one: the guard's 401s spend the address's budget all the same.
      const res = await call('GET', '/schedule', i % 2 ? { ip } : { ip, user: '  ' });
      assert.equal(res.status, 401);
      assertCounted(res, N - i);
    }
    assertRateLimited(await call('GET', '/schedule', { ip }), '/schedule');
    // Another address is not affected, nor a user calling from this one.
    assertCounted(await call('GET', '/schedule', { ip: newIp() }), N - 1);
    assert.equal((await call('GET', '/schedule', { ip, user: newUser() })).status, 200);
  });

  it('refuses before reading the body: an over-limit caller gets 429, not 413 or 400', async () => {
    const alice = newUser();
    const ip = newIp();
    await exhaust({ user: alice, ip });
    assertRateLimited(await call('POST', '/schedule', { user: alice, ip, payload: 'x'.repeat(JSON_BODY_LIMITS.bytes + 1) }), '/schedule');
    assertRateLimited(await call('POST', '/schedule', { user: alice, ip, payload: '{not json' }), '/schedule');
  });

  it('never limits the probes, the metrics scrape or the runtime routes', async () => {
    const ip = newIp();
    const alice = newUser();
    await exhaust({ ip });
    await exhaust({ user: alice, ip });
    for (let i = 0; i < N + 3; i++) {
      for (const path of ['/health', '/health/live', '/health/ready', '/metrics']) {
        assertNotLimited(await call('GET', path, { ip }));
        assertNotLimited(await call('GET', path, { ip, user: alice }));
      }
      const runtime = await call('POST', `/runtime/runs/run-${i}/status`, {
        ip,
        headers: { authorization: `Bearer ${runtimeToken}` },
        payload: JSON.stringify({ status: 'succeeded' }),
      });
      assert.equal(runtime.status, 404, JSON.stringify(runtime.body));
      assertNotLimited(runtime);
      const unauthenticated = await call('POST', `/runtime/runs/run-${i}/status`, { ip, payload: '{}' });
      assert.equal(unauthenticated.status, 401);
      assertNotLimited(unauthenticated);
    }
    assert.equal((await call('GET', '/health/ready', { ip })).status, 200);
  });
});

describe('rate limits off (RATE_LIMIT_PER_MINUTE=0)', () => {
  let testApp: TestApp;
  const call = caller(() => testApp.app);
  beforeAll(async () => {
    testApp = await createTestApp('memory', { rateLimit: { perMinute: 0, redisUrl: TEST_REDIS_URL } });
  });
  afterAll(() => testApp?.close());

  it('counts nothing and sends no RateLimit headers', async () => {
    const alice = newUser();
    for (let i = 0; i < 3 * N; i++) {
      const res = await call('GET', '/schedule', { user: alice });
      assert.equal(res.status, 200);
      assertNotLimited(res);
    }
  });
});


describe('rate limits with Redis unreachable', () => {
  let testApp: TestApp;
  const call = caller(() => testApp.app);
  beforeAll(async () => {
    testApp = await createTestApp('memory', { rateLimit: { perMinute: N, redisUrl: `redis://127.0.0.1:${await freePort()}` } });
  });
  afterAll(() => testApp?.close());

  it('starts, and lets requests through uncounted rather than failing them', async () => {
    const alice = newUser();
    for (let i = 0; i < 2 * N; i++) {
      const res = await call('GET', '/schedule', { user: alice });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  });
});

const redisSkip = await redisSkipReason();

describe('rate limits shared through Redis', () => {
  if (redisSkip) {
    it.skip(`skipped: ${redisSkip}`, () => undefined);
    return;
  }
  let redis: Redis;
  const users: string[] = [];
  const newSharedUser = () => {
    const user = newUser();
    users.push(user);
    return user;
  };

  beforeAll(async () => {
    redis = testRedisClient();
    await redis.connect();
  });
  afterAll(async () => {
    // Only this run's keys: the Redis may be shared with anything else.
    if (users.length > 0) await redis.del(...users.map((user) => rateLimitRedisKey(`user:${user}`)));
    redis.disconnect();
  });

  it('two apps in one process share one budget per user', async () => {
    const apps = [
      await createTestApp('memory', { rateLimit: { perMinute: N, redisUrl: TEST_REDIS_URL } }),
      await createTestApp('memory', { rateLimit: { perMinute: N, redisUrl: TEST_REDIS_URL } }),
    ];
    try {
      const calls = apps.map((testApp) => caller(() => testApp.app));
      const alice = newSharedUser();
      for (let i = 1; i <= N; i++) {
        const res = await calls[i % 2]('GET', '/schedule', { user: alice });
        assert.equal(res.status, 200);
        assertCounted(res, N - i);
      }
      assertRateLimited(await calls[(N + 1) % 2]('GET', '/schedule', { user: alice }), '/schedule');
      assertRateLimited(await calls[N % 2]('GET', '/schedule', { user: alice }), '/schedule');
      assertCounted(await calls[0]('GET', '/schedule', { user: newSharedUser() }), N - 1);
      const ttl = await redis.pttl(rateLimitRedisKey(`user:${alice}`));
      assert.ok(ttl > 0 && ttl <= 60_000, `the counter expires with its window (PTTL ${ttl})`);
    } finally {
      for (const testApp of apps) await testApp.close();
    }
  });

  describe('two service processes', () => {
    const replicas: Replica[] = [];
    afterAll(async () => {
      for (const replica of replicas) replica.process.kill('SIGKILL');
      await Promise.all(replicas.map((replica) => replica.exited));
    });

    it('share one budget per user: together they allow N, the N+1st is 429', async () => {
      replicas.push(new Replica(await freePort()), new Replica(await freePort()));
      const bases = await Promise.all(replicas.map((replica) => replica.listening()));
      const alice = newSharedUser();
      for (let i = 1; i <= N; i++) {
        const res = await get(`${bases[i % 2]}/schedule`, alice);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assertCounted(res, N - i);
      }
      for (const base of bases) assertRateLimited(await get(`${base}/schedule`, alice), '/schedule');
      // Another user's budget is whole on both.
      const bob = newSharedUser();
      assertCounted(await get(`${bases[0]}/schedule`, bob), N - 1);
      assertCounted(await get(`${bases[1]}/schedule`, bob), N - 2);
      for (const replica of replicas) {
        assert.doesNotMatch(replica.output.join(''), /not enforced/, 'a replica could not reach Redis');
      }
    }, 120_000);
  });
});

async function get(url: string, user: string): Promise<Reply> {
  const res = await fetch(url, { headers: { 'x-user-id': user }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body: /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text,
  };
}

/** One service process, as deployed, counting in the test's Redis. */
class Replica {
  readonly process: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<void>;

  constructor(private readonly port: number) {
    this.process = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        STORAGE_DRIVER: 'memory',
        SCHEDULER_ENABLED: 'false',
        HOST: '127.0.0.1',
        PORT: String(port),
        RATE_LIMIT_PER_MINUTE: String(N),
        REDIS_URL: TEST_REDIS_URL,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (chunk) => this.output.push(String(chunk)));
    this.process.stderr!.on('data', (chunk) => this.output.push(String(chunk)));
    this.exited = new Promise((resolve) => this.process.on('exit', () => resolve()));
  }

  /** The base URL once the service says it listens; rejects if it exits first or takes over 60 s (a busy machine). */
  async listening(): Promise<string> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const port = /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.output.join(''))?.[1];
      if (port) return `http://127.0.0.1:${Number(port) || this.port}`;
      if (this.process.exitCode !== null || this.process.signalCode !== null || Date.now() > deadline) {
        throw new Error(`the service did not start: ${this.output.join('')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
