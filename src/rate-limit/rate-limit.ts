import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { RateLimited } from '../common/domain-errors.js';
import { RUNTIME_ROUTE_PREFIX } from '../auth/runtime-token.guard.js';
import type { RateLimitConfig } from '../config/app-config.js';
import { RedisCounters } from './redis-counters.js';

export const NO_RATE_LIMIT: RateLimitConfig = { perMinute: 0, redisUrl: null };

/** RATE_LIMIT_PER_MINUTE counts requests in windows this long, starting at a caller's first request. */
export const RATE_LIMIT_WINDOW_MS = 60_000;

/** Orchestrators' probes and Prometheus' scrapes: a 429 there would restart or blind a healthy replica. */
const EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/health', '/health/live', '/health/ready', '/metrics']);

/**
 * Whether a route (by its template, `request.routeOptions.url`) is exempt: the probes above and
 * the agent runtime's routes, whose caller is one service credential with its own volume, not a user.
 */
export function isExemptRoute(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && (EXEMPT_ROUTES.has(routeUrl) || routeUrl.startsWith(RUNTIME_ROUTE_PREFIX));
}

/**
 * Whose budget a request spends: its user's when the identity hook found one, else its IP's
 * (an IPv6 address by its /64, which one client typically holds whole). A request whose
 * identity failed (a bad token) spends its IP's: trying tokens is not free.
 */
export function rateLimitKey(request: Pick<FastifyRequest, 'identity' | 'ip'>): string {
  const identity = request.identity;
  return identity && 'userId' in identity ? `user:${identity.userId}` : `ip:${normalizeIP(request.ip)}`;
}

/**
 * Per-caller request limits (@fastify/rate-limit): RATE_LIMIT_PER_MINUTE requests per caller per
 * window, counted per process, or in Redis (REDIS_URL) for every replica together. Must run
 * before the routes are registered: the plugin hooks each route as it is added.
 */
export async function registerRateLimit(app: NestFastifyApplication, config: RateLimitConfig): Promise<void> {
  if (config.perMinute === 0) return;
  const fastify = app.getHttpAdapter().getInstance();
  const counters = config.redisUrl ? new RedisCounters(config.redisUrl) : null;
  if (counters) {
    fastify.addHook('onClose', () => counters.close());
    await counters.firstConnection();
  }
  await app.register(fastifyRateLimit, {
    max: config.perMinute,
    timeWindow: RATE_LIMIT_WINDOW_MS,
    // After the identity hook (onRequest) has named the caller, before a byte of the body is read.
    hook: 'preParsing',
    keyGenerator: rateLimitKey,
    // Exempt by route template, in this one list, rather than `config: { rateLimit: false }` on
    // each route: the policy stays in one place instead of in controllers other concerns own,
    // and, unlike a match on the raw URL, no query string or other path can borrow an exemption.
    allowList: (request) => isExemptRoute(request.routeOptions.url),
    // RateLimit-Limit, -Remaining and -Reset (the IETF draft's names) on every limited answer, with Retry-After on a 429.
    enableDraftSpec: true,
    // Thrown into Nest's exception filter: the same problem body as any RateLimited.
    errorResponseBuilder: (_request, context) => new RateLimited(Math.max(1, Math.ceil(context.ttl / 1000))),
    // Redis down: requests go through uncounted (RedisCounters logs it), rather than 500.
    ...(counters ? { store: counters.storeClass(), skipOnError: true } : {}),
  });
}
