import { type ValidationOptions, registerDecorator } from 'class-validator';
import { cronExpressionProblem } from '../../firing/cron.js';

/** A cron expression the scheduler can run (see cronExpressionProblem). */
export function IsCronExpression(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isCronExpression',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && cronExpressionProblem(value) === null,
        defaultMessage: (args) =>
          `${args?.property} ${typeof args?.value === 'string' ? cronExpressionProblem(args.value) : 'must be a string'}`,
      },
    });
}

// An instant: date, time and an explicit offset or Z, so no time zone has to be guessed.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** An ISO 8601 date-time with an offset (`2026-01-01T09:00:00Z`, `2026-01-01T09:00:00+08:00`). */
export function IsIsoInstant(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isIsoInstant',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && ISO_INSTANT.test(value) && !Number.isNaN(Date.parse(value)),
        defaultMessage: (args) =>
          `${args?.property} must be an ISO 8601 date-time with a time zone offset, e.g. 2026-01-01T09:00:00Z`,
      },
    });
}
