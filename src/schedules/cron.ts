import { Cron } from 'croner';

/**
 * Why `expression` is not a cron expression this service accepts, or null when it is: five
 * fields (minute hour day-of-month month day-of-week), or six with seconds first, with standard
 * cron's meaning (day-of-week 0 and 7 are Sunday) and at least one future fire time.
 */
export function cronExpressionProblem(expression: string, timezone = 'UTC'): string | null {
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return `must have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; got ${fields}`;
  }
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, paused: true });
  } catch (error) {
    return `is not a valid cron expression: ${(error as Error).message}`;
  }
  if (cron.nextRun() === null) return 'never fires';
  return null;
}
