import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { createRequire } from 'node:module';
import { LogThrottle, suppressedSuffix } from '../common/log-throttle.js';

/** Every counter's key starts with this, so that the service's keys stand apart from anything else in that Redis. */
export const RATE_LIMIT_KEY_PREFIX = 'schedule-service:rate-limit:';

/**
 * Fail fast: a request never waits on Redis for long. Without the offline queue a count asked
 * while the connection is down fails at once (and the request goes uncounted) instead of
 * waiting for a reconnection; a Redis that accepts the connection but does not answer fails the
 * count after commandTimeout.
 */
export const REDIS_CLIENT_OPTIONS = {
  connectTimeout: 2000,
  commandTimeout: 500,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  lazyConnect: false,
  // close() between two reconnection attempts leaves ioredis a timer this long (for a socket
  // already gone); the default, 2 s, would hold up the process's exit that much.
  disconnectTimeout: 200,
} as const satisfies RedisOptions;

/** The library's Redis store: the counting script and its window, which this module does not redo. */
type RedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, keyPrefix: string) => FastifyRateLimitStore;
// Not in the package's typed entry point, but a file of the package itself (it has no `exports` map).
const RedisStore = createRequire(import.meta.url)('@fastify/rate-limit/store/RedisStore.js') as RedisStoreCtor;

/** The LogThrottle kind of every "Redis failed" line. */
const FAILURE = 'redis-unavailable';

type IncrCallback = Parameters<FastifyRateLimitStore['incr']>[1];

/**
 * A store that tells `onFailure` each time a count fails, then fails it as the inner store did:
 * the plugin's `skipOnError` lets the request through uncounted, and would otherwise say nothing.
 */
export class ReportingStore implements FastifyRateLimitStore {
  constructor(
    private readonly inner: FastifyRateLimitStore,
    private readonly onFailure: (error: Error) => void,
  ) {}

  incr(key: string, callback: IncrCallback, timeWindow: number, max: number): void {
    this.inner.incr(
      key,
      (error, result) => {
        if (error) this.onFailure(error);
        callback(error, result);
      },
      timeWindow,
      max,
    );
  }

  child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    return new ReportingStore(this.inner.child(routeOptions), this.onFailure);
  }
}

export interface RedisCountersOptions {
  /** Prefix of every key (RATE_LIMIT_KEY_PREFIX otherwise). */
  keyPrefix?: string;
  logger?: Pick<Logger, 'warn' | 'log'>;
  throttle?: LogThrottle;
}

/**
 * Rate-limit counters shared by every replica through one Redis client per app. While Redis is
 * unreachable requests are let through uncounted (the limit is a guard, not a reason to refuse
 * service); that is logged once per LogThrottle interval, and again when Redis is back.
 */
export class RedisCounters {
  readonly client: Redis;
  private readonly keyPrefix: string;
  private readonly logger: Pick<Logger, 'warn' | 'log'>;
  private readonly throttle: LogThrottle;
  private failing = false;

  constructor(url: string, options: RedisCountersOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? RATE_LIMIT_KEY_PREFIX;
    this.logger = options.logger ?? new Logger('RateLimit');
    this.throttle = options.throttle ?? new LogThrottle();
    this.client = new Redis(url, REDIS_CLIENT_OPTIONS);
    // Connection errors repeat on every reconnection attempt; without a listener ioredis prints each.
    this.client.on('error', (error: Error) => this.reportFailure(error));
    this.client.on('ready', () => {
      if (!this.failing) return;
      this.failing = false;
      this.throttle.reset(FAILURE);
      this.logger.log('Redis is reachable again: rate limits are enforced');
    });
  }

  /** The plugin's `store` option: the library's Redis store under this prefix, reporting failures. */
  storeClass(): FastifyRateLimitStoreCtor {
    const inner = (options: FastifyRateLimitOptions) => {
      const { continueExceeding = false, exponentialBackoff = false } = options as { continueExceeding?: boolean; exponentialBackoff?: boolean };
      return new RedisStore(continueExceeding, exponentialBackoff, this.client, this.keyPrefix);
    };
    const onFailure = (error: Error) => this.reportFailure(error);
    return class extends ReportingStore {
      constructor(options: FastifyRateLimitOptions) {
        super(inner(options), onFailure);
      }
    };
  }

  /**
   * Resolves once the first connection is up (true) or has failed or timed out (false): the
   * service starts either way, but does not count its first requests against a client still connecting.
   */
  firstConnection(): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        resolve(ready);
      };
      const onReady = () => done(true);
      const onError = () => done(false);
      const timer = setTimeout(() => done(false), REDIS_CLIENT_OPTIONS.connectTimeout + 500);
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
  }

  /**
   * Quits politely when connected (pending counts finish), otherwise drops the connection and
   * stops reconnecting; resolves once the client has ended.
   */
  async close(): Promise<void> {
    const { status } = this.client;
    if (status === 'end') return;
    // Between reconnection attempts there is no socket: disconnect() cancels the next attempt, and no 'end' follows.
    const ended = status === 'reconnecting' ? Promise.resolve() : endOf(this.client);
    if (status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
    await ended;
  }

  private reportFailure(error: Error): void {
    this.failing = true;
    // The message only (ECONNREFUSED host:port, a timeout): never the URL, which may hold a password.
    this.throttle.run(FAILURE, (suppressed) =>
      this.logger.warn(`Rate limits are not enforced: Redis is unavailable (${describe(error)})${suppressedSuffix(suppressed)}`),
    );
  }
}

/** An error in a few words; a refused connection to `localhost` is an AggregateError without a message. */
function describe(error: Error): string {
  return error.message || (error as NodeJS.ErrnoException).code || error.name;
}

/** The client's 'end' event, or a second at most: closing never holds up the app's shutdown for long. */
function endOf(client: Redis): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
