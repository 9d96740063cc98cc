/** One field that failed validation, named by its path in the request body or query (`chat_model_config.model`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Errors the services throw. Each has a stable code; ProblemDetailsFilter maps the code to an HTTP status. */
export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;
}

export type DomainErrorCode =
  | 'missing-user-id'
  | 'duplicate-identity-header'
  | 'schedule-not-found'
  | 'schedule-disabled'
  | 'schedule-version-mismatch'
  | 'schedule-limit-reached'
  | 'validation-failed'
  | 'storage-unavailable';

export class MissingUserId extends DomainError {
  readonly code = 'missing-user-id';
  constructor() {
    super('The x-user-id header is required: 1 to 256 characters, no control characters.');
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

export class ScheduleVersionMismatch extends DomainError {
  readonly code = 'schedule-version-mismatch';
  constructor(scheduleId: string, storedVersion: number) {
    super(`Schedule ${scheduleId} is at version ${storedVersion}, which If-Match does not name; read it again and retry.`);
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
