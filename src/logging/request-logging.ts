import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { pathOf } from './logger.js';
import { runInRequest } from './request-context.js';

export const REQUEST_ID_HEADER = 'x-request-id';
// What a caller's id may be to be kept: short, and nothing a log reader could be fooled by.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's `genReqId`: the caller's `x-request-id` when sane (a repeated header is not), a new UUID otherwise. */
export function requestIdFor(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Fastify's request log lines (its `logController`): instead of two per request, one, written
 * when the response is, with the request id (`request_id`, on every line Fastify logs for the
 * request), method, route template, path without the query string, status, duration and the
 * caller's user id when known. Never headers, bodies or query strings.
 */
export class RequestLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {}

  // Nest answers unknown routes itself; the completed line says 404.
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    request.log[error || status >= 500 ? 'error' : 'info'](
      {
        method: request.method,
        route: request.routeOptions.url,
        path: pathOf(request.url),
        status,
        duration_ms: Math.round(reply.elapsedTime * 10) / 10,
        user_id: userIdOf(request),
        ...(error ? { err: error } : {}),
      },
      'request completed',
    );
  }
}

/** The caller as the guard (request.user) or the identity hook (request.identity) resolved it. */
function userIdOf(request: FastifyRequest & { user?: { id?: string } }): string | undefined {
  if (request.user?.id) return request.user.id;
  const identity = request.identity;
  return identity && 'userId' in identity ? identity.userId : undefined;
}

/**
 * Echoes each request's id in `x-request-id`, and makes it the `request_id` of Nest's log lines
 * written while the request is served. The request line itself is RequestLogController's.
 */
export function registerRequestLogging(app: NestFastifyApplication): void {
  addRequestIdHooks(app.getHttpAdapter().getInstance());
}

/** The hooks of registerRequestLogging, on a Fastify instance. */
export function addRequestIdHooks(fastify: FastifyInstance): void {
  const scopes = new WeakMap<FastifyRequest, AsyncResource>();
  fastify.addHook('onRequest', (request, _reply, done) => {
    runInRequest(request.id, () => {
      scopes.set(request, new AsyncResource('request-id'));
      done();
    });
  });
  // Should Node resume a request with a body from its stream's events outside the scope entered
  // above, re-enter it for validation, guards, the handler and the filters.
  fastify.addHook('preValidation', (request, _reply, done) => {
    const scope = scopes.get(request);
    if (scope) scope.runInAsyncScope(done);
    else done();
  });
  // onSend sees every response, those answered by a hook (CORS preflights, 503s) too.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done(null, payload);
  });
}
