import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import { ApiServiceUnavailableResponse, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { errorCodes } from 'fastify';
import { INVALID_TOKEN_DETAIL } from '../auth/identity.js';
import { DEFAULT_LIMITS } from '../config/app-config.js';
import {
  type DomainError,
  DuplicateIdentityHeader,
  IllegalRunTransition,
  InvalidRuntimeToken,
  InvalidToken,
  MissingUserId,
  RateLimited,
  RunNotFound,
  ScheduleBusy,
  BudgetExhausted,
  ScheduleDisabled,
  ScheduleLimitReached,
  ScheduleNotFound,
  ScheduleVersionMismatch,
  SessionNotFound,
  StorageUnavailable,
  ValidationFailed,
} from '../common/domain-errors.js';
import { INVALID_JSON_DETAIL, NOT_JSON_DETAIL } from '../common/json-body.js';
import { ProblemDetails, STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS, toProblem } from '../common/problem-details.js';
import { implausibleIdMessage } from '../common/text.js';
import { EXAMPLE_RUN_ID, EXAMPLE_SCHEDULE_ID, EXAMPLE_SESSION_ID } from './examples.js';

/**
 * The body the service answers for `error`, made by the mapping every error response goes through
 * (toProblem), so that an example follows a reworded message. `instance` is left empty here:
 * setupSwagger writes in each operation's own path. test/swagger.e2e-spec.ts provokes each error
 * and compares the live answer with its example.
 */
function problem(error: DomainError | Error): ProblemDetails {
  return toProblem(error, '')!;
}

/** Example problem bodies, one per error the API documents. */
export const PROBLEM_EXAMPLES = {
  missingUserId: problem(new MissingUserId()),
  missingBearerToken: problem(new InvalidToken('A bearer token is required.')),
  invalidToken: problem(new InvalidToken(INVALID_TOKEN_DETAIL)),
  missingRuntimeToken: problem(new InvalidRuntimeToken(true)),
  scheduleNotFound: problem(new ScheduleNotFound(EXAMPLE_SCHEDULE_ID)),
  runNotFound: problem(new RunNotFound(EXAMPLE_RUN_ID)),
  sessionNotFound: problem(new SessionNotFound(EXAMPLE_SESSION_ID)),
  scheduleLimitReached: problem(new ScheduleLimitReached(DEFAULT_LIMITS.maxSchedulesPerUser)),
  scheduleDisabled: problem(new ScheduleDisabled(EXAMPLE_SCHEDULE_ID)),
  scheduleBusy: problem(new ScheduleBusy(EXAMPLE_SCHEDULE_ID, EXAMPLE_RUN_ID)),
  budgetExhausted: problem(new BudgetExhausted(EXAMPLE_SCHEDULE_ID, new Date('2026-01-16T00:00:00.000Z'))),
  runAlreadyFinal: problem(new IllegalRunTransition(EXAMPLE_RUN_ID, 'succeeded', 'running')),
  versionMismatch: problem(new ScheduleVersionMismatch(EXAMPLE_SCHEDULE_ID, 3)),
  invalidSchedule: problem(
    new ValidationFailed([
      { field: 'cron_expression', message: 'cron_expression is not a valid cron expression: CronPattern: Invalid value for hour: 25' },
      { field: 'timezone', message: 'timezone must be an IANA time zone, e.g. Europe/Berlin' },
    ]),
  ),
  invalidBulk: problem(new ValidationFailed([{ field: 'ids', message: 'the selectors match 1400 schedules; one call acts on at most 1000' }])),
  invalidPage: problem(new ValidationFailed([{ field: 'limit', message: 'limit must not be less than 1' }])),
  invalidCount: problem(new ValidationFailed([{ field: 'count', message: 'count must not be greater than 100' }])),
  invalidRunStatus: problem(
    new ValidationFailed([{ field: 'status', message: 'status must be one of the following values: running, succeeded, failed' }]),
  ),
  invalidSessionState: problem(new ValidationFailed([{ field: 'cur_iter', message: 'cur_iter must not be less than 0' }])),
  rateLimited: problem(new RateLimited(37)),
  duplicateUserId: problem(new DuplicateIdentityHeader()),
  malformedJson: problem(new BadRequestException(`${INVALID_JSON_DETAIL}: Expected ',' or '}' after property value in JSON at position 12`)),
  bodyTooLarge: problem(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE()),
  notJson: problem(new UnsupportedMediaTypeException(NOT_JSON_DETAIL)),
  storageUnavailable: problem(new StorageUnavailable()),
} satisfies Record<string, ProblemDetails>;

/** The 422 for a path parameter `name` that no record can have as its id. */
export function invalidPathParameterProblem(name: string): ProblemDetails {
  return problem(new ValidationFailed([{ field: name, message: implausibleIdMessage(name) }]));
}

const integerHeader = (description: string, example: number) => ({ description, schema: { type: 'integer', example } });

/** 429 past the caller's request budget (RATE_LIMIT_PER_MINUTE; setupSwagger drops it when that is 0). */
export const ApiRateLimited = (): ClassDecorator & MethodDecorator =>
  ApiTooManyRequestsResponse({
    description:
      "The caller (its user, or its IP address while it has no valid identity) used up this minute's requests " +
      '(RATE_LIMIT_PER_MINUTE); `Retry-After` says in how many seconds to try again. Every answer of a limited route ' +
      'carries the `RateLimit-*` headers.',
    type: ProblemDetails,
    headers: {
      'Retry-After': integerHeader('Seconds until the budget refills.', 37),
      'RateLimit-Limit': integerHeader('Requests per minute allowed.', 600),
      'RateLimit-Remaining': integerHeader('Requests left in this window.', 0),
      'RateLimit-Reset': integerHeader('Seconds until the window ends.', 37),
    },
    example: PROBLEM_EXAMPLES.rateLimited,
  });

/** 503 while the database cannot be reached. */
export const ApiStorageUnavailable = (): ClassDecorator & MethodDecorator =>
  ApiServiceUnavailableResponse({
    description: 'The database is unavailable; `Retry-After` says when to try again.',
    type: ProblemDetails,
    headers: {
      'Retry-After': {
        description: 'Seconds to wait before retrying.',
        schema: { type: 'integer', example: STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS },
      },
    },
    example: PROBLEM_EXAMPLES.storageUnavailable,
  });
