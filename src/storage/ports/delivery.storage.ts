import type { ClaimedDelivery, DeliveryRecord } from '../../domain/delivery.js';
import type { Run, RunUsage, RuntimeRunStatus } from '../../domain/run.js';
import type { ClaimedScheduleEvent, ScheduleEventResult } from '../../domain/schedule-event.js';
import type { Session, SessionState } from '../../domain/session.js';

/** What DeliveryStorage.reportRunStatus did. */
export type RunReportOutcome =
  | { status: 'applied' | 'unchanged'; run: Run }
  /** Not a legal transition from the run's status (see runTransition): nothing was written. */
  | { status: 'illegal'; run: Run }
  | { status: 'not-found' };

/** What DeliveryStorage.cancelRun did. */
export type RunCancelOutcome = { status: 'cancelled' | 'final'; run: Run } | { status: 'not-found' };

/** Outbox entries waiting for a dispatcher (see DeliveryStorage.outboxBacklog). */
export interface OutboxBacklog {
  /** How many entries are deliverable at the instant asked about and not being delivered (not leased). */
  count: number;
  /** The earliest time one of them became deliverable, or null when none is. */
  oldestAvailableAt: Date | null;
}

/**
 * The hand-off of fires to the agent runtime and what it reports back: the outbox the dispatcher
 * delivers (DispatcherService), the runs' statuses and the sessions' states the runtime writes
 * (RuntimeService). These serve the service itself and the runtime, so they span users. Every
 * implementation must pass the storage contract (test/storage/contract/).
 */
export abstract class DeliveryStorage {
  /**
   * Claims up to `limit` outbox entries deliverable at `now` (released, available at or before
   * `now`, not leased or with a lease that ended at or before `now`), earliest first, and leases
   * them until `leaseUntil`: no other caller claims them before then, so a caller that dies
   * mid-delivery leaves them to be retried by another once the lease ends. Entries another caller
   * is claiming are skipped, not waited for (SKIP LOCKED). An entry whose run is no longer active
   * is deleted, not returned. Returns each claimed run with its schedule and session, as the
   * webhook sends them, and how many attempts were made before.
   */
  abstract claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]>;

  /**
   * The entries, of any user, that claimDeliveries would give at `now` (deliverable, not leased or
   * with a lease ended), counted, and the earliest `availableAt` among them: the work the
   * dispatchers have not taken yet. Entries held back (a run waiting under buffer_one) or due
   * later (a retry) do not count.
   */
  abstract outboxBacklog(now: Date): Promise<OutboxBacklog>;

  /**
   * Records delivery attempts and their results, all in one transaction (a batch costs a few
   * statements whatever its size: one per kind of write). Each record's attempt is kept
   * (HistoryStorage.getRun lists it) unless its run no longer exists (its outbox entry goes, if
   * any). Then, by `result.outcome`:
   * - `delivered`: a `pending` run becomes `dispatched` (one the runtime has already moved on
   *   keeps its status); the outbox entry is deleted;
   * - `completed`: an active run takes `result.status`, `result.error` and `result.usage`,
   *   `finishedAt` = `now`; the entry is deleted;
   * - `retry`: the entry becomes available again at `result.nextAttemptAt`, unleased, with one
   *   more attempt counted (only if the entry still exists);
   * - `gave-up`: an active run becomes `failed` with `result.error`, `finishedAt` = `now`; the
   *   entry is deleted.
   * A run that ends here releases its schedule's waiting run (see reportRunStatus). At most one
   * record per run in a batch.
   */
  abstract recordDeliveryAttempts(records: readonly DeliveryRecord[], now: Date): Promise<void>;

  /**
   * Applies a status the runtime reports for the run with this id, of any user, by runTransition:
   * `apply` sets the status, the error (`to` = `failed`: `error`; otherwise null) and, for a final
   * status, `finishedAt` = `now` and the `usage` reported with it (ignored with `running`); it also deletes the run's outbox entry (the runtime has the run,
   * so it is not delivered again), and a run that ends releases its schedule's waiting run: that
   * run's outbox entry becomes available at `now` and its `timeoutAt` = `now` + the schedule's run
   * timeout; the message a waiting stateful fire kept with its entry is appended to its session
   * (within the bound, as a fire appends; `updatedAt` = `now`) and cleared, in the same
   * transaction. A run that is not ended and has no `timeoutAt` (it was waiting) gets one: `now`
   * + the schedule's run timeout, so that no run stays active for ever; a message it kept is
   * appended to its session then, as its entry goes. `noop` answers `unchanged`,
   * `illegal` answers `illegal`; both write nothing.
   */
  abstract reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date, usage?: RunUsage | null): Promise<RunReportOutcome>;

  /**
   * Replaces the state of the session with this id, of any user, and sets its `updatedAt` to
   * `now`. Of a context over `statefulSessionMaxMessages` or `statefulSessionMaxBytes`
   * (StorageOptions), the newest messages within both are kept (the last one always), as an append
   * keeps them. Returns the session as stored afterwards, or null, writing nothing, when there is none.
   */
  abstract putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null>;

  /**
   * The user's cancel of a run of this schedule, in a transaction that holds the schedule: an
   * active run ends `cancelled` (finishedAt `now`, error saying so) as endings do (its outbox entry
   * goes, so an undelivered run is never delivered; the schedule's waiting run is released), and,
   * when the runtime may have it (dispatched, running, or pending with its entry leased to a
   * dispatcher), a `run.cancelled` event is written for the runtime. Returns the run as it is
   * after, `final` (nothing written) when it had a final status already, or `not-found`.
   */
  abstract cancelRun(userId: string, scheduleId: string, runId: string, now: Date): Promise<RunCancelOutcome>;

  /**
   * Delivers again the user's runs whose delivery gave up (Run.gaveUp): each becomes `pending`
   * again (error and end cleared, a new timeout from `now`) with a fresh outbox entry, deliverable
   * now, no attempt counted: a new series of attempts on the same run (the same webhook-id). Each
   * run on its own, holding its schedule. Returns, per run id asked, `taken`, `not-found` (not the
   * user's, or gone) or `not-given-up` (any other status).
   */
  abstract redriveRuns(userId: string, runIds: readonly string[], now: Date): Promise<Map<string, 'taken' | 'not-found' | 'not-given-up'>>;

  /**
   * Claims up to `limit` schedule events deliverable at `now` (available at or before `now`, not
   * leased or with a lease that ended), oldest first, and leases them until `leaseUntil`, as
   * claimDeliveries does (SKIP LOCKED between callers). Each comes with its schedule as it is
   * now. (A schedule's events go with it when it is deleted.)
   */
  abstract claimScheduleEvents(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedScheduleEvent[]>;

  /**
   * Records what the attempts at events led to, in one transaction: `delivered` and `gave-up`
   * delete the event; `retry` makes it available again at `nextAttemptAt`, unleased, with one
   * more attempt counted. Events that no longer exist are left alone.
   */
  abstract recordScheduleEventAttempts(results: readonly ScheduleEventResult[]): Promise<void>;
}
