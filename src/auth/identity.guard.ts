import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { InvalidToken, MissingUserId } from '../common/domain-errors.js';
import { AuthConfig } from '../config/app-config.js';

/** The authenticated caller, set on the request by IdentityGuard. */
export interface RequestUser {
  id: string;
}

/** RFC 6750 §3: the challenge for a request without a token, and for one whose token failed. */
export const BEARER_CHALLENGE = 'Bearer realm="schedule-service"';
export const INVALID_TOKEN_CHALLENGE = 'Bearer realm="schedule-service", error="invalid_token"';

/**
 * The one place a route learns its caller: the identity registerIdentity resolved for the request
 * (the `x-user-id` header, or a JWT in jwt mode). Refuses a request without one; in jwt mode
 * every refusal carries a `WWW-Authenticate: Bearer` challenge.
 */
@Injectable()
export class IdentityGuard implements CanActivate {
  constructor(private readonly auth: AuthConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { user?: RequestUser }>();
    const identity = request.identity;
    if (identity && 'userId' in identity) {
      request.user = { id: identity.userId };
      return true;
    }
    if (this.auth.mode !== 'jwt') throw identity?.error ?? new MissingUserId();
    void http.getResponse<FastifyReply>().header('www-authenticate', identity ? INVALID_TOKEN_CHALLENGE : BEARER_CHALLENGE);
    throw identity?.error ?? new InvalidToken('A bearer token is required.');
  }
}
