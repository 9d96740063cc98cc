import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { type DomainError, DuplicateIdentityHeader, InvalidToken, MissingUserId } from '../common/domain-errors.js';
import { bearerToken, countHeader } from '../common/http-headers.js';
import { RUNTIME_ROUTE_PREFIX } from './runtime-token.guard.js';
import type { AuthConfig } from '../config/app-config.js';
import { JwtVerifier } from './jwt-verifier.js';
import { isUsableUserId, USER_ID_HEADER } from './user-id.js';

export const HEADER_AUTH: AuthConfig = { mode: 'header', jwt: null };

/**
 * Who a request's caller is, resolved once per request in an `onRequest` hook (registerIdentity),
 * before the rate limiter (which counts per user) and the guards (which refuse without a user).
 * Unset when the request carries no identity at all.
 */
export type RequestIdentity = { userId: string } | { error: DomainError };

declare module 'fastify' {
  interface FastifyRequest {
    identity?: RequestIdentity;
  }
}

/** What a rejected token's problem says: never which check failed. */
export const INVALID_TOKEN_DETAIL = 'The bearer token is invalid or expired.';

/**
 * Resolves each request's caller once, before rate limits and guards: the `x-user-id` header in
 * header mode, the `Authorization: Bearer` JWT in jwt mode (where `x-user-id` is ignored).
 * Routes under /runtime/ are skipped: the agent runtime's bearer token is not a user's JWT, and
 * those routes have their own guard. Throws at start-up when jwt mode has no JWT settings or its
 * JWT_PUBLIC_KEY suits no allowed algorithm.
 */
export async function registerIdentity(app: NestFastifyApplication, auth: AuthConfig): Promise<void> {
  let identify = async (request: FastifyRequest): Promise<RequestIdentity | undefined> => headerIdentity(request);
  if (auth.mode === 'jwt') {
    // Never header mode by accident: jwt mode without its settings is a start-up error.
    if (!auth.jwt) throw new Error('AUTH_MODE=jwt needs the JWT_* settings');
    identify = bearerIdentity(await JwtVerifier.create(auth.jwt));
  }
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', async (request: FastifyRequest) => {
      if ((request.routeOptions.url ?? request.url).startsWith(RUNTIME_ROUTE_PREFIX)) return;
      request.identity = await identify(request);
    });
}

/** Header mode: the trimmed `x-user-id`, sent once, 1 to 256 characters without control characters. */
function headerIdentity(request: FastifyRequest): RequestIdentity | undefined {
  const count = countHeader(request.raw.rawHeaders, USER_ID_HEADER);
  if (count === 0) return undefined;
  // Node joins a repeated header into "a, a": which identity was meant cannot be known.
  if (count > 1) return { error: new DuplicateIdentityHeader() };
  const header = request.headers[USER_ID_HEADER];
  const userId = typeof header === 'string' ? header.trim() : '';
  return isUsableUserId(userId) ? { userId } : { error: new MissingUserId() };
}

/** jwt mode: the user claim of a valid `Authorization: Bearer` token. Never throws. */
function bearerIdentity(verifier: JwtVerifier): (request: FastifyRequest) => Promise<RequestIdentity | undefined> {
  return async (request) => {
    const token = bearerToken(request.raw.rawHeaders, request.headers.authorization);
    if (token === 'missing') return undefined;
    try {
      if (token === null) throw new Error('not one Authorization: Bearer header');
      return { userId: await verifier.userIdOf(token) };
    } catch (error) {
      // Which check failed helps an operator, not a caller; the code names no claim value or token.
      const reason = (error as { code?: unknown } | null)?.code ?? (error as object | null)?.constructor?.name;
      request.log.debug({ reason }, 'bearer token rejected');
      return { error: new InvalidToken(INVALID_TOKEN_DETAIL) };
    }
  };
}
