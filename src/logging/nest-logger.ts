import type { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { currentRequestId } from './request-context.js';

const STACK_TRACE = /\n\s+at /;

/**
 * Nest's logs (its own and every `new Logger(context)` of the service) as lines of the service's
 * pino logger: `log` is info, `verbose` is trace; the Logger's context is the `context` field, an
 * error's stack is `err`, and a line written while serving a request carries its `request_id`.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Nest calls it as (message, stack?, context?), a Logger with a context passing an undefined stack. */
  error(message: unknown, ...params: unknown[]): void {
    let stack: unknown;
    if (params.length >= 2 || (params.length === 1 && typeof params[0] === 'string' && STACK_TRACE.test(params[0]))) {
      stack = params.shift();
    }
    this.write('error', message, params, typeof stack === 'string' ? stack : undefined);
  }

  private write(level: Level, message: unknown, params: unknown[], stack?: string): void {
    if (!this.logger.isLevelEnabled(level)) return;
    // Nest appends the Logger's context to the parameters.
    const context = params.length > 0 && typeof params.at(-1) === 'string' ? (params.pop() as string) : undefined;
    const fields: Record<string, unknown> = { context, request_id: currentRequestId() };
    if (params.length > 0) fields.details = params;
    let text: string | undefined;
    if (message instanceof Error) {
      fields.err = message;
      text = message.message;
    } else if (typeof message === 'object' && message !== null) {
      fields.details = params.length > 0 ? [message, ...params] : message;
    } else {
      text = String(message);
    }
    if (stack !== undefined) fields.err = { type: 'Error', message: text, stack };
    this.logger[level](fields, text);
  }
}
