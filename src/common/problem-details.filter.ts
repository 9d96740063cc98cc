import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StorageUnavailable } from './domain-errors.js';
import { LogThrottle, suppressedSuffix } from './log-throttle.js';
import { internalErrorProblem, PROBLEM_CONTENT_TYPE, requestInstance, retryAfterSeconds, toProblem } from './problem-details.js';

/**
 * Writes every error as RFC 9457 problem details; unexpected ones are logged and answered with a
 * generic 500. A storage outage is a 503 with `Retry-After`. Both are logged at most once per
 * interval with a count of the rest, so that an outage does not log a line per request.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  constructor(private readonly throttle = new LogThrottle()) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const instance = requestInstance(request.url);
    let problem = toProblem(error, instance);
    if (!problem) {
      const kind = error instanceof Error ? error.constructor.name : typeof error;
      this.throttle.run(`unexpected ${kind}`, (suppressed) =>
        this.logger.error(`${request.method} ${instance} failed${suppressedSuffix(suppressed)}`, error instanceof Error ? error.stack : String(error)),
      );
      problem = internalErrorProblem(instance);
    } else if (error instanceof StorageUnavailable) {
      const cause = error.cause instanceof Error ? error.cause.message : String(error.cause ?? error.message);
      this.throttle.run('storage-unavailable', (suppressed) =>
        this.logger.warn(`Storage unavailable, answering 503: ${cause}${suppressedSuffix(suppressed)}`),
      );
    }
    const retryAfter = retryAfterSeconds(error);
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
  }
}
