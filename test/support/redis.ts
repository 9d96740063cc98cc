import { Redis } from 'ioredis';
import { RATE_LIMIT_KEY_PREFIX } from '../../src/rate-limit/redis-counters.js';

/** The server the machines start before each session; override with TEST_REDIS_URL. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Why the Redis suites are skipped in this run, or undefined when Redis answers a PING. Under
 * CI=true an unreachable Redis throws instead: there it is a failure, not a skip. Call it with a
 * top-level await (Jest defines suites synchronously).
 */
export async function redisSkipReason(): Promise<string | undefined> {
  const client = testRedisClient();
  // connect() rejects with "Connection is closed."; the cause (ECONNREFUSED …) comes as an 'error' event.
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    const e = (cause ?? error) as NodeJS.ErrnoException;
    const reason = `Redis at ${TEST_REDIS_URL} is unreachable (${e.message || e.code})`;
    if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
    return reason;
  } finally {
    client.disconnect();
  }
}

/** A client for the test itself (not connected yet): one attempt, no retries, errors to the caller. */
export function testRedisClient(): Redis {
  const client = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  return client;
}

/** The Redis key of a caller's rate-limit counter (`user:<id>` or `ip:<address>`). */
export function rateLimitRedisKey(callerKey: string): string {
  return `${RATE_LIMIT_KEY_PREFIX}${callerKey}`;
}
