import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidRuntimeToken } from '../common/domain-errors.js';
import { RuntimeConfig } from '../config/app-config.js';

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

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
    const token = bearerToken(request);
    if (token !== null && timingSafeEqual(digest(token), this.expected)) return true;
    const challenge = token === null ? 'Bearer realm="runtime"' : 'Bearer realm="runtime", error="invalid_token"';
    void http.getResponse<FastifyReply>().header('www-authenticate', challenge);
    throw new InvalidRuntimeToken(token === null);
  }
}

/** The token of the request's one `Authorization: Bearer` header; null when there is none, or more than one. */
function bearerToken(request: FastifyRequest): string | null {
  let count = 0;
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'authorization') count++;
  const header = request.headers.authorization;
  if (count !== 1 || typeof header !== 'string') return null;
  return BEARER.exec(header)?.[1] ?? null;
}
