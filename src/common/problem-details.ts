import { HttpException, HttpStatus } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import { DomainError, type DomainErrorCode, type FieldError, RateLimited, ValidationFailed } from './domain-errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export class FieldErrorResponse implements FieldError {
  @ApiProperty({ description: 'Path of the bad field, e.g. `chat_model_config.model`.' }) readonly field: string;
  @ApiProperty() readonly message: string;
}

/** RFC 9457 problem details; `detail` keeps clients that read FastAPI's error body working. */
export class ProblemDetails {
  @ApiProperty({ description: 'URI identifying the problem type; `about:blank` for plain HTTP errors.' })
  readonly type: string;
  @ApiProperty() readonly title: string;
  @ApiProperty({ type: 'integer' }) readonly status: number;
  @ApiProperty() readonly detail: string;
  @ApiPropertyOptional({ description: 'The request path.' }) readonly instance?: string;
  @ApiPropertyOptional({ type: [FieldErrorResponse], description: 'On validation errors: each bad field.' })
  readonly errors?: FieldErrorResponse[];
}

/**
 * A 409 of a manual run: the schedule is disabled, a run of it is still active (ScheduleBusy),
 * which `active_run_id` names, or its budget is exhausted (BudgetExhausted) until `resets_at`.
 */
export class ScheduleConflictProblem extends ProblemDetails {
  @ApiPropertyOptional({ description: 'The run still active (`…:schedule-busy` only).' })
  readonly active_run_id?: string;
  @ApiPropertyOptional({ description: 'When the budget period resets (`…:budget-exhausted` only).', format: 'date-time' })
  readonly resets_at?: string;
}

/** A 409 of a runtime's status report: the run already has a final status (IllegalRunTransition). */
export class RunTransitionProblem extends ProblemDetails {
  @ApiProperty({ description: 'The final status the run already has.', enum: ['succeeded', 'failed', 'timed_out', 'missed', 'skipped', 'cancelled'] })
  readonly current_status: string;
}

/** How long a client should wait before retrying a 503 (the `Retry-After` header). */
export const STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

const DOMAIN_ERRORS: Record<DomainErrorCode, { status: number; title: string; retryAfterSeconds?: number }> = {
  'missing-user-id': { status: HttpStatus.UNAUTHORIZED, title: 'Missing user identity' },
  'duplicate-identity-header': { status: HttpStatus.BAD_REQUEST, title: 'Ambiguous user identity' },
  'schedule-not-found': { status: HttpStatus.NOT_FOUND, title: 'Schedule not found' },
  'schedule-disabled': { status: HttpStatus.CONFLICT, title: 'Schedule is disabled' },
  'schedule-version-mismatch': { status: HttpStatus.PRECONDITION_FAILED, title: 'Schedule version mismatch' },
  // 409, not 422: the request is valid, the user's current schedules are what stand in its way
  // (deleting one resolves it); not 429 either, which is for request rates.
  'schedule-limit-reached': { status: HttpStatus.CONFLICT, title: 'Schedule limit reached' },
  'validation-failed': { status: HttpStatus.UNPROCESSABLE_ENTITY, title: 'Validation failed' },
  'storage-unavailable': {
    status: HttpStatus.SERVICE_UNAVAILABLE,
    title: 'Storage unavailable',
    retryAfterSeconds: STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS,
  },
  'schedule-busy': { status: HttpStatus.CONFLICT, title: 'Schedule has an active run' },
  'budget-exhausted': { status: HttpStatus.CONFLICT, title: 'Budget exhausted' },
  'idempotency-key-reused': { status: HttpStatus.UNPROCESSABLE_ENTITY, title: 'Idempotency key reused' },
  'idempotency-key-in-progress': { status: HttpStatus.CONFLICT, title: 'Idempotency key in progress' },
  'run-not-found': { status: HttpStatus.NOT_FOUND, title: 'Run not found' },
  'illegal-run-transition': { status: HttpStatus.CONFLICT, title: 'Illegal run status transition' },
  'session-not-found': { status: HttpStatus.NOT_FOUND, title: 'Session not found' },
  'invalid-runtime-token': { status: HttpStatus.UNAUTHORIZED, title: 'Runtime authentication failed' },
  'invalid-token': { status: HttpStatus.UNAUTHORIZED, title: 'Invalid bearer token' },
  'rate-limited': { status: HttpStatus.TOO_MANY_REQUESTS, title: 'Too many requests' },
};

/** The `Retry-After` (seconds) to send with the problem for `error`, or undefined for none. */
export function retryAfterSeconds(error: unknown): number | undefined {
  if (error instanceof RateLimited) return error.retryAfterSeconds;
  return error instanceof DomainError ? DOMAIN_ERRORS[error.code].retryAfterSeconds : undefined;
}

/** Maps any thrown value to a problem; null for an unexpected error (a 500 the caller must log). */
export function toProblem(error: unknown, instance: string): ProblemDetails | null {
  if (error instanceof DomainError) {
    const { status, title } = DOMAIN_ERRORS[error.code];
    return {
      // First, so that no extension member can stand in for a standard one.
      ...error.extensions,
      type: `urn:schedule-service:problem:${error.code}`,
      title,
      status,
      detail: bounded(error.message),
      instance: bounded(instance, MAX_INSTANCE_LENGTH),
      ...(error instanceof ValidationFailed ? { errors: boundedErrors(error.errors) } : {}),
    };
  }
  if (error instanceof HttpException) {
    return plainHttpProblem(error.getStatus(), httpExceptionDetail(error), instance);
  }
  // Errors Fastify raises before a route runs (bad JSON, body too large, unsupported media type).
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return plainHttpProblem(statusCode, (error as Error).message, instance);
  }
  return null;
}

/**
 * The `instance` of a problem about a request to `url`: its path, without the query, cut to
 * MAX_INSTANCE_LENGTH characters (with an ellipsis) so that a long URL is not echoed whole.
 */
export function requestInstance(url: string): string {
  const queryAt = url.indexOf('?');
  return bounded(queryAt < 0 ? url : url.slice(0, queryAt), MAX_INSTANCE_LENGTH);
}

export function internalErrorProblem(instance: string): ProblemDetails {
  return plainHttpProblem(HttpStatus.INTERNAL_SERVER_ERROR, 'An unexpected error occurred.', instance);
}

function plainHttpProblem(status: number, detail: string, instance: string): ProblemDetails {
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail: bounded(detail), instance: bounded(instance, MAX_INSTANCE_LENGTH) };
}

/** At most this many `errors[]` entries: an error body never grows with what the client sent. */
export const MAX_PROBLEM_ERRORS = 20;
/**
 * The most characters of `detail`, which may quote what the client sent (a path, a value); longer
 * text is cut and ends with an ellipsis.
 */
export const MAX_DETAIL_LENGTH = 500;
/** The most characters of `instance`, the request path; a longer one is cut and ends with an ellipsis. */
export const MAX_INSTANCE_LENGTH = 1024;

function bounded(text: string, max = MAX_DETAIL_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function boundedErrors(errors: FieldError[]): FieldError[] {
  return errors.slice(0, MAX_PROBLEM_ERRORS).map((e) => ({ field: bounded(e.field, 200), message: bounded(e.message, 200) }));
}

function httpExceptionDetail(error: HttpException): string {
  const body = error.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : error.message;
}
