import { type ValidationError, ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type FieldError, ValidationFailed } from './common/domain-errors.js';
import { RUNTIME_ROUTE_PREFIX } from './auth/runtime-token.guard.js';
import { JSON_BODY_LIMITS, parseJsonBody, RUNTIME_JSON_BODY_LIMITS } from './common/json-body.js';
import { implausibleIdMessage, isPlausibleId } from './common/text.js';
import { internalErrorProblem, PROBLEM_CONTENT_TYPE, toProblem } from './common/problem-details.js';
import { ProblemDetailsFilter } from './common/problem-details.filter.js';
import { type AppConfig, DEFAULT_HTTP_CONFIG, DEFAULT_SHUTDOWN_TIMEOUT_MS, type HttpConfig } from './config/app-config.js';
import { HEADER_AUTH, registerIdentity } from './auth/identity.js';
import { setupSwagger } from './docs/swagger.js';
import { registerGracefulShutdown } from './health/graceful-shutdown.js';
import { registerSecurity } from './http/security.js';
import { registerConsole } from './console/console.js';
import { registerRequestLogging, RequestLogController, requestIdFor } from './logging/request-logging.js';
import { registerHttpMetrics } from './metrics/http-metrics.js';
import { NO_RATE_LIMIT, registerRateLimit } from './rate-limit/rate-limit.js';

/**
 * The HTTP adapter: Fastify, answering 413 past JSON_BODY_LIMITS.bytes, closing connections that
 * are slow to send their headers or body or idle between requests, and answering every request
 * that never reaches a route (bad URL encoding, a path parameter past 256 characters, headers
 * past 16 KiB, malformed HTTP) with a problem body too.
 */
export function createHttpAdapter(http: HttpConfig = DEFAULT_HTTP_CONFIG, logger?: FastifyBaseLogger): FastifyAdapter {
  return new FastifyAdapter({
    ...(logger ? { loggerInstance: logger } : {}),
    // One log line per request instead of Fastify's two, with the caller's x-request-id when sane.
    logController: new RequestLogController(),
    genReqId: requestIdFor,
    bodyLimit: JSON_BODY_LIMITS.bytes,
    // Past this a path parameter is 414; up to it, ids longer than 128 characters are a 422 naming the parameter.
    routerOptions: { maxParamLength: 256 },
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    connectionTimeout: http.requestTimeoutMs,
    // Node checks the header and request timeouts this often (its default, 30 s, lets a slow
    // client hold a socket that much longer than the timeout says).
    http: { headersTimeout: http.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const problem = toProblem(error, request.url.split('?')[0].slice(0, 200)) ?? internalErrorProblem('');
      void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
    },
    clientErrorHandler: (error, socket) => answerClientError(error as NodeJS.ErrnoException, socket),
  });
}

/** Node's answer to a request it could not parse: the same problem body, written on the socket. */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const detail =
    status === 408 ? 'The request was not received in time.' : status === 431 ? 'The request headers are too large.' : 'The request is not valid HTTP.';
  const body = JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status], status, detail });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Everything main.ts and the e2e tests both need, in the order requests meet it: body parsing,
 * validation, problem details, security headers and CORS, request logs, identity, rate limits,
 * metrics, Swagger, the console, shutdown hooks.
 */
export async function configureApp(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const http = config.http;
  app.getHttpServer().maxConnections = http.maxConnections;
  // One parser for every content type, so that anything but JSON is a 415 (Fastify's own
  // text/plain parser would hand a string to validation); it bounds what validation then sees.
  app.getHttpAdapter().getInstance().removeAllContentTypeParsers();
  // Every path parameter of this API is an id: one no record can have (a NUL, a control
  // character, a lone surrogate, over 128 characters) is refused the same way on every backend.
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preValidation', async (request: FastifyRequest) => {
      for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, string>)) {
        // `*` is a static file's path (/docs/*, /console/*), not an id; @fastify/static checks it.
        if (name !== '*' && !isPlausibleId(value)) {
          throw new ValidationFailed([{ field: name, message: implausibleIdMessage(name) }]);
        }
      }
    });
  // The runtime's routes take larger bodies (a session's whole state); a route's bodyLimit is
  // what Fastify enforces, before the parser below sees a byte.
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route) => {
      if (route.url.startsWith(RUNTIME_ROUTE_PREFIX)) route.bodyLimit = RUNTIME_JSON_BODY_LIMITS.bytes;
    });
  app.useBodyParser(
    '*',
    {},
    (request: FastifyRequest, body: Buffer, done: (error: Error | null, parsed?: unknown) => void) => {
      const limits = request.routeOptions.url?.startsWith(RUNTIME_ROUTE_PREFIX) ? RUNTIME_JSON_BODY_LIMITS : JSON_BODY_LIMITS;
      done(null, parseJsonBody(request.headers['content-type'], body, limits));
    },
  );
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) => new ValidationFailed(flattenValidationErrors(errors)),
    }),
  );
  // Also sees the errors Fastify raises before routing (malformed JSON, body too large): Nest
  // installs Fastify's error handler and passes them through the global filters.
  app.useGlobalFilters(new ProblemDetailsFilter());

  await registerSecurity(app, config.corsOrigins ?? []);
  registerRequestLogging(app);
  await registerIdentity(app, config.auth ?? HEADER_AUTH);
  await registerRateLimit(app, config.rateLimit ?? NO_RATE_LIMIT);
  registerHttpMetrics(app);
  setupSwagger(app, config);
  await registerConsole(app, config.consoleEnabled ?? true);
  registerGracefulShutdown(app, config.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
}

/** One entry per bad field, named by its dotted path (`chat_model_config.model`). */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}
