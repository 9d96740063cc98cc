import { type ValidationOptions, registerDecorator } from 'class-validator';
import { labelsProblem } from '../../domain/labels.js';
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

/** Labels in Kubernetes' syntax, at most MAX_LABELS (see labelsProblem). */
export function IsLabels(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isLabels',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => labelsProblem(value) === null,
        defaultMessage: (args) => `${args?.property}: ${labelsProblem(args?.value)}`,
      },
    });
}

// An instant: date, time and an explicit offset or Z, so no time zone has to be guessed.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;
/** Activation windows end before this year: far enough for any schedule, and a bound on what is stored. */
export const MAX_INSTANT_YEAR = 2200;

/** Whether `value` is an ISO instant of a date and time that exist (no 2027-02-30, no 24:00), 1970 ≤ year < MAX_INSTANT_YEAR. */
export function isIsoInstant(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const m = ISO_INSTANT.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second = '0', offsetHours = '0', offsetMinutes = '0'] = m.slice(1).map((p) => p ?? undefined);
  const y = Number(year);
  if (y < 1970 || y >= MAX_INSTANT_YEAR || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return false;
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return false;
  // The calendar date exists when it survives a round trip through Date.UTC.
  const date = new Date(Date.UTC(y, Number(month) - 1, Number(day)));
  return date.getUTCFullYear() === y && date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

/** An ISO 8601 date-time with an offset (`2026-01-01T09:00:00Z`, `2026-01-01T09:00:00+08:00`). */
export function IsIsoInstant(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isIsoInstant',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: isIsoInstant,
        defaultMessage: (args) =>
          `${args?.property} must be an ISO 8601 date-time with a time zone offset, e.g. 2026-01-01T09:00:00Z, ` +
          `of a real date between 1970 and ${MAX_INSTANT_YEAR}`,
      },
    });
}
