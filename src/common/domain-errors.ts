/** One field that failed validation, named by its path in the request body or query (`chat_model_config.model`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Errors the services throw. Each has a stable code; ProblemDetailsFilter maps the code to an HTTP status. */
export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
  /** Members the problem body carries besides the standard ones (RFC 9457 extension members), snake_case. */
  readonly extensions?: Record<string, string>;
}

export type DomainErrorCode =
  | 'missing-user-id'
  | 'duplicate-identity-header'
  | 'schedule-not-found'
  | 'schedule-disabled'
  | 'schedule-version-mismatch'
  | 'schedule-limit-reached'
  | 'validation-failed'
  | 'storage-unavailable'
  | 'schedule-busy'
  | 'budget-exhausted'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-progress'
  | 'run-not-found'
  | 'illegal-run-transition'
  | 'session-not-found'
  | 'invalid-runtime-token'
  | 'invalid-token'
  | 'rate-limited';

export class MissingUserId extends DomainError {
  readonly code = 'missing-user-id';
  constructor() {
    super('The x-user-id header is required: 1 to 256 characters, no control characters.');
  }
}

/**
 * jwt mode: the bearer token is missing, malformed, badly signed, expired, not yet valid, for
 * another issuer or audience, or without the user claim. `detail` says which only in general terms.
 */
export class InvalidToken extends DomainError {
  readonly code = 'invalid-token';
  constructor(detail = 'A valid bearer token is required.') {
    super(detail);
  }
}

/** The caller made more requests than RATE_LIMIT_PER_MINUTE allows; Retry-After says when to retry. */
export class RateLimited extends DomainError {
  readonly code = 'rate-limited';
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many requests; retry in ${retryAfterSeconds} s.`);
  }
}

export class DuplicateIdentityHeader extends DomainError {
  readonly code = 'duplicate-identity-header';
  constructor() {
    super('The x-user-id header must be sent once.');
  }
}

export class ScheduleNotFound extends DomainError {
  readonly code = 'schedule-not-found';
  constructor(scheduleId: string) {
    super(`Schedule ${scheduleId} not found.`);
  }
}

export class ScheduleDisabled extends DomainError {
  readonly code = 'schedule-disabled';
  constructor(scheduleId: string) {
    super(`Schedule ${scheduleId} is disabled; enable it before running it.`);
  }
}

/** A manual fire the overlap policy refuses: the schedule has a run still active (see decideFire). */
export class ScheduleBusy extends DomainError {
  readonly code = 'schedule-busy';
  readonly extensions: { active_run_id: string };
  constructor(scheduleId: string, activeRunId: string) {
    super(
      `Schedule ${scheduleId} has run ${activeRunId} still active, and its overlap_policy does not let another ` +
        'fire now; retry when that run has ended.',
    );
    this.extensions = { active_run_id: activeRunId };
  }
}

/** A manual fire while the schedule's budget is exhausted for the current period (see budgetAtFire). */
export class BudgetExhausted extends DomainError {
  readonly code = 'budget-exhausted';
  readonly extensions: { resets_at: string };
  constructor(scheduleId: string, resetsAt: Date) {
    super(`Schedule ${scheduleId} has used its budget for the current period; it resets at ${resetsAt.toISOString()}.`);
    this.extensions = { resets_at: resetsAt.toISOString() };
  }
}

/** An Idempotency-Key used before, within its day, for another request. */
export class IdempotencyKeyReused extends DomainError {
  readonly code = 'idempotency-key-reused';
  constructor(key: string) {
    super(`Idempotency-Key ${JSON.stringify(key)} was used for another request (another route or body) within the last 24 h; use a new key.`);
  }
}

/** A duplicate of a request that is still being handled after the wait. */
export class IdempotencyKeyInProgress extends DomainError {
  readonly code = 'idempotency-key-in-progress';
  constructor(key: string) {
    super(`A request with Idempotency-Key ${JSON.stringify(key)} is still being handled; retry later for its answer.`);
  }
}

export class RunNotFound extends DomainError {
  readonly code = 'run-not-found';
  constructor(runId: string) {
    super(`Run ${runId} not found.`);
  }
}

/** A status the runtime reported that the run cannot take from the one it has (see runTransition). */
export class IllegalRunTransition extends DomainError {
  readonly code = 'illegal-run-transition';
  readonly extensions: { current_status: string };
  constructor(runId: string, currentStatus: string, reported: string) {
    super(`Run ${runId} is already ${currentStatus}, a final status; it cannot become ${reported}.`);
    this.extensions = { current_status: currentStatus };
  }
}

export class SessionNotFound extends DomainError {
  readonly code = 'session-not-found';
  constructor(sessionId: string) {
    super(`Session ${sessionId} not found.`);
  }
}

/** The /runtime routes' credential is missing or not the configured RUNTIME_TOKEN. */
export class InvalidRuntimeToken extends DomainError {
  readonly code = 'invalid-runtime-token';
  constructor(missing: boolean) {
    super(
      missing
        ? 'The runtime routes require Authorization: Bearer <RUNTIME_TOKEN>.'
        : 'The bearer token is not the runtime token.',
    );
  }
}

export class ScheduleVersionMismatch extends DomainError {
  readonly code = 'schedule-version-mismatch';
  /** `storedVersion` null: there is no such schedule, and If-Match named a version of one. */
  constructor(scheduleId: string, storedVersion: number | null) {
    super(
      storedVersion === null
        ? `Schedule ${scheduleId} does not exist, and If-Match names a version of it; retry without If-Match to create it.`
        : `Schedule ${scheduleId} is at version ${storedVersion}, which If-Match does not name; read it again and retry.`,
    );
  }
}

export class ScheduleLimitReached extends DomainError {
  readonly code = 'schedule-limit-reached';
  constructor(readonly limit: number) {
    super(`You have ${limit} schedules, the most one user may have; delete one before creating another.`);
  }
}

export class ValidationFailed extends DomainError {
  readonly code = 'validation-failed';
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

/**
 * The database is down, unreachable, overloaded (it did not answer in time) or without its schema:
 * nothing the client did, and worth retrying later. The storage raises it in place of the
 * driver's error, which it keeps as `cause` for the logs; clients never see the driver's message.
 */
export class StorageUnavailable extends DomainError {
  readonly code = 'storage-unavailable';
  constructor(detail = 'The service cannot reach its database right now; retry later.', options?: { cause?: unknown }) {
    super(detail, options);
  }
}
