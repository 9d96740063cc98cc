import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { internalErrorProblem, PROBLEM_CONTENT_TYPE, toProblem } from './problem-details.js';

/** Writes every error as RFC 9457 problem details; unexpected ones are logged and answered with a generic 500. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const instance = request.url.split('?')[0];
    let problem = toProblem(error, instance);
    if (!problem) {
      this.logger.error(`${request.method} ${instance} failed`, error instanceof Error ? error.stack : String(error));
      problem = internalErrorProblem(instance);
    }
    void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
  }
}
