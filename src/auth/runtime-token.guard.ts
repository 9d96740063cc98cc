import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidRuntimeToken } from '../common/domain-errors.js';
import { bearerToken } from '../common/http-headers.js';
import { RuntimeConfig } from '../config/app-config.js';

/** The agent runtime's routes (RuntimeController): they take the runtime token, never a user's identity, and larger bodies. */
export const RUNTIME_ROUTE = 'runtime';
export const RUNTIME_ROUTE_PREFIX = `/${RUNTIME_ROUTE}/`;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Authenticates the agent runtime on /runtime routes: `Authorization: Bearer <RUNTIME_TOKEN>`, and
 * nothing else (a user's `x-user-id` is not looked at). The tokens are compared as SHA-256 digests
 * with timingSafeEqual, so the time taken says nothing about the token, not even its length.
 * A failure is a 401 with `WWW-Authenticate: Bearer` (RFC 6750).
 */
@Injectable()
export class RuntimeTokenGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(config: RuntimeConfig) {
    if (!config.token) throw new Error('RuntimeTokenGuard needs a runtime token');
    this.expected = digest(config.token);
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const sent = bearerToken(request.raw.rawHeaders, request.headers.authorization);
    const token = sent === 'missing' ? null : sent;
    if (token !== null && timingSafeEqual(digest(token), this.expected)) return true;
    const challenge = token === null ? 'Bearer realm="runtime"' : 'Bearer realm="runtime", error="invalid_token"';
    void http.getResponse<FastifyReply>().header('www-authenticate', challenge);
    throw new InvalidRuntimeToken(token === null);
  }
}
