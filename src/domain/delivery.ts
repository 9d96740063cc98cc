import type { DispatchAttempt, Run, RunOutcome } from './run.js';
import type { Schedule } from './schedule.js';
import type { Session } from './session.js';

/** A run's webhook, claimed for delivery (DeliveryStorage.claimDeliveries): what its body is built from. */
export interface ClaimedDelivery {
  run: Run;
  schedule: Schedule;
  /** The run's session as it is now; null if it is gone (pruned). */
  session: Session | null;
  /** Attempts made before this one. */
  attemptsMade: number;
}

/** What one delivery attempt leads to (DeliveryStorage.recordDeliveryAttempts). */
export type DeliveryResult =
  /** The runtime accepted the webhook (2xx): the run is `dispatched`. */
  | { outcome: 'delivered' }
  /** The runtime ran it synchronously: its 2xx body carried the final status (and the usage, if any). */
  | ({ outcome: 'completed' } & RunOutcome)
  /** A transient failure: try again at `nextAttemptAt`. */
  | { outcome: 'retry'; nextAttemptAt: Date }
  /** No more tries (a permanent failure, or the last attempt): the run fails with `error`. */
  | { outcome: 'gave-up'; error: string };

/** One delivery attempt and what it led to, to record (DeliveryStorage.recordDeliveryAttempts). */
export interface DeliveryRecord {
  attempt: DispatchAttempt;
  result: DeliveryResult;
}
