import { v7 as uuidv7 } from 'uuid';
import type { Run } from './run.js';
import type { Schedule } from './schedule.js';

/**
 * What the service tells the operator about a schedule's brakes, as signed webhooks through an
 * outbox of their own (README "Events"): `schedule.paused` (its failure policy paused it),
 * `schedule.budget_exhausted` (its budget's period reached a limit), `schedule.completed` (done
 * after max_runs fires). Each transition the service makes writes one, in the transaction that
 * makes it; what a user does (a PATCH) writes none. One more goes the same way to the agent
 * runtime instead: `run.cancelled`, when the user cancels a run the runtime may have (its webhook
 * endpoint, DISPATCH_URL).
 */
export const SCHEDULE_EVENT_TYPES = ['schedule.paused', 'schedule.budget_exhausted', 'schedule.completed', 'run.cancelled'] as const;
export type ScheduleEventType = (typeof SCHEDULE_EVENT_TYPES)[number];

export interface ScheduleEvent {
  /** Also the webhook's `webhook-id`: a receiver deduplicates retries by it. */
  id: string;
  scheduleId: string;
  userId: string;
  type: ScheduleEventType;
  occurredAt: Date;
  /** `schedule.budget_exhausted` only: when the period resets. */
  resetsAt: Date | null;
  /** `run.cancelled` only: the run. */
  runId: string | null;
}

/** An event taken for delivery (DeliveryStorage.claimScheduleEvents), with its schedule as it is now. */
export interface ClaimedScheduleEvent {
  event: ScheduleEvent;
  schedule: Schedule;
  /** `run.cancelled`: the run as it is now (null if it is gone). */
  run: Run | null;
  /** Attempts made before this one. */
  attemptsMade: number;
}

/** What one attempt at an event led to (DeliveryStorage.recordScheduleEventAttempts). */
export type ScheduleEventResult =
  | { eventId: string; outcome: 'delivered' | 'gave-up' }
  | { eventId: string; outcome: 'retry'; nextAttemptAt: Date };

export function scheduleEvent(
  schedule: Pick<Schedule, 'id' | 'userId'>,
  type: ScheduleEventType,
  occurredAt: Date,
  resetsAt: Date | null = null,
  runId: string | null = null,
): ScheduleEvent {
  return { id: uuidv7(), scheduleId: schedule.id, userId: schedule.userId, type, occurredAt, resetsAt, runId };
}
