import type { Page, PageRequest } from '../common/page.js';
import { DEFAULT_STORAGE_LIMITS } from '../config/app-config.js';
import type { ClaimedDelivery, DeliveryResult } from '../domain/delivery.js';
import type { ClaimOutcome, DueFirePlan, FireWrite } from '../domain/fire.js';
import type { DispatchAttempt, Run, RunWithAttempts, RuntimeRunStatus } from '../domain/run.js';
import type { Schedule } from '../domain/schedule.js';
import type { Session, SessionState } from '../domain/session.js';

/** A session with its config and state as stored JSON text (see StorageBase.pageSessionsJson). */
/**
 * A session with its config and state as the JSON text they are stored as: a string, or its UTF-8
 * bytes where the storage keeps those (memory), so that the page copies them without encoding.
 */
export type SessionJson = Omit<Session, 'config' | 'state'> & { configJson: string | Buffer; stateJson: string | Buffer };

/** What StorageBase.updateSchedule did. */
export type ScheduleUpdateOutcome =
  | { status: 'updated'; schedule: Schedule }
  | { status: 'not-found' }
  | { status: 'version-mismatch'; storedVersion: number };

/**
 * The record updateSchedule stores: what `change` returned, except the fields that are not the
 * caller's (id, owner, creation, the fires' lastRunAt), and the next version. Shared by every
 * backend so they cannot drift apart.
 */
export function updatedSchedule(stored: Schedule, changed: Schedule): Schedule {
  return {
    ...changed,
    id: stored.id,
    userId: stored.userId,
    createdAt: stored.createdAt,
    lastRunAt: stored.lastRunAt,
    version: stored.version + 1,
  };
}

/** Whether a stored version satisfies updateSchedule's `expectedVersion`. */
export function versionMatches(stored: number, expected: number | readonly number[] | undefined): boolean {
  if (expected === undefined) return true;
  return typeof expected === 'number' ? stored === expected : expected.includes(stored);
}

/** How the storage bounds what it keeps. */
export interface StorageOptions {
  /**
   * Context messages a stateful session keeps: a fire that appends past it drops the oldest
   * message(s) in the same write, so that the newest this many remain.
   */
  statefulSessionMaxMessages: number;
  /**
   * Bytes of context messages a stateful session keeps, about: the sum of each message's JSON text
   * in UTF-8 (the backends print JSON a little differently, so the cut may fall a message apart
   * between them). Past it the oldest messages are dropped in the same write as with the count;
   * the newest message is always kept, even alone over this bound.
   */
  statefulSessionMaxBytes: number;
}

export const DEFAULT_STORAGE_OPTIONS: StorageOptions = {
  statefulSessionMaxMessages: DEFAULT_STORAGE_LIMITS.statefulSessionMaxMessages,
  statefulSessionMaxBytes: DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes,
};

/** What StorageBase.recordFire did. */
export type RecordFireOutcome =
  | { status: 'fired'; session: Session; run: Run }
  /** The overlap policy refused the fire (see decideFire): nothing was written. */
  | { status: 'busy'; blockingRunId: string }
  | { status: 'not-found' };

/** What StorageBase.reportRunStatus did. */
export type RunReportOutcome =
  | { status: 'applied' | 'unchanged'; run: Run }
  /** Not a legal transition from the run's status (see runTransition): nothing was written. */
  | { status: 'illegal'; run: Run }
  | { status: 'not-found' };

/** Schedules that are due and not yet claimed (see StorageBase.dueBacklog). */
export interface DueBacklog {
  /** How many schedules have a `nextRunAt` at or before the instant asked about. */
  count: number;
  /** The earliest of those `nextRunAt`, or null when none is due. */
  oldestNextRunAt: Date | null;
}

/**
 * The storage port, and its own injection token. Every implementation must pass
 * `runStorageContract` (storage.contract.ts). Records are always scoped to a user: a record
 * another user owns behaves exactly like a missing one. Methods return copies; callers may
 * mutate what they get without touching what is stored.
 */
export abstract class StorageBase {
  /**
   * Inserts a new schedule, unless its user already has `maxPerUser` schedules or more: then it
   * writes nothing and returns false. The count and the insert are one atomic step, so that
   * concurrent creates by one user never take them past the limit. Without `maxPerUser`, no limit.
   * Returns true when the schedule was inserted.
   */
  abstract createSchedule(schedule: Schedule, maxPerUser?: number): Promise<boolean>;

  /** The user's schedule with this id, or null. */
  abstract getSchedule(userId: string, scheduleId: string): Promise<Schedule | null>;

  /** Whether the user has a schedule with this id (cheaper than getSchedule). */
  abstract hasSchedule(userId: string, scheduleId: string): Promise<boolean>;

  /** All of the user's schedules, newest first (created_at, then id, both descending). */
  abstract listSchedules(userId: string): Promise<Schedule[]>;

  /**
   * Updates the user's schedule by read-modify-write, atomically: in one transaction it reads the
   * record as stored at that moment (holding it, so that concurrent updates and fires of the
   * schedule wait for this one or are skipped, never interleave), checks `expectedVersion`,
   * calls `change` with a copy of it, and writes what `change` returns.
   *
   * - `change` is pure: it computes the new record from the current one, including `nextRunAt`
   *   (return `current.nextRunAt` to keep it). It may throw, typically a ValidationFailed on the
   *   merged record: then nothing is written and the error propagates.
   * - Not the caller's to change, whatever `change` returns: `id`, `userId` and `createdAt` are
   *   kept, `lastRunAt` is the stored one (fires own it), and `version` becomes the stored
   *   version + 1.
   * - With `expectedVersion`, the update happens only if the stored version is that one, or, given
   *   several, one of them (none given: it never happens); otherwise nothing is written, `change`
   *   is not called, and the outcome is `version-mismatch`. Without it, any version is updated.
   *
   * Returns `updated` with the record as stored, `not-found` (checked before the version) when
   * the user has no such schedule, or `version-mismatch` with the stored version.
   */
  abstract updateSchedule(
    userId: string,
    scheduleId: string,
    change: (current: Schedule) => Schedule,
    expectedVersion?: number | readonly number[],
  ): Promise<ScheduleUpdateOutcome>;

  /**
   * The scheduler's repair of a schedule that should fire but has no `nextRunAt` (see
   * listEnabledSchedulesWithoutNextRun). In one transaction, like updateSchedule, it reads the
   * user's schedule and, if it is still enabled and still without a `nextRunAt`, sets `nextRunAt`
   * to what `plan` computes from the record as stored now. Nothing else changes, `version` neither:
   * like a fire's, this is bookkeeping, not a change of the user's fields. Returns the `nextRunAt`
   * written, or null when nothing was (no such schedule, disabled, already planned, or `plan`
   * returned null). If `plan` throws, nothing is written and the error propagates.
   */
  abstract setMissingNextRun(
    userId: string,
    scheduleId: string,
    plan: (schedule: Schedule) => Date | null,
  ): Promise<Date | null>;

  /**
   * Deletes the user's schedule and, in the same transaction, every session and run it triggered,
   * with the runs' outbox entries and delivery attempts.
   * Returns false, deleting nothing, when the user has no such schedule.
   */
  abstract deleteSchedule(userId: string, scheduleId: string): Promise<boolean>;

  /** The user's session with this id, or null. */
  abstract getSession(userId: string, sessionId: string): Promise<Session | null>;

  /**
   * The user's sessions triggered by this schedule, newest first: created_at descending,
   * then id descending, so sessions created in the same millisecond keep a stable order.
   */
  abstract listSessionsBySchedule(userId: string, scheduleId: string): Promise<Session[]>;

  /**
   * One page of listSessionsBySchedule's order, by keyset (created_at, id) rather than offset,
   * so a page costs the same however deep it is; `next` is the last item's (createdAt, id).
   */
  abstract pageSessionsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Session>>;

  /**
   * pageSessionsBySchedule (listSessionsBySchedule when `page` is null: every session, `next`
   * null), with each session's config and state as the JSON text they are stored as, never
   * parsed: the sessions page splices them into its response as they are. The text parses to
   * the same values pageSessionsBySchedule returns, though not necessarily to the same bytes
   * (PostgreSQL writes jsonb back with spaces); it is always a document this service wrote.
   */
  abstract pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson>>;

  /**
   * Writes one fire atomically: inserts `fire.session`, or for a stateful fire whose session
   * already exists appends `fire.message` to its context and sets its `updatedAt` to
   * `fire.firedAt`; inserts `fire.run`; sets the schedule's `lastRunAt` to `fire.firedAt` (its
   * `nextRunAt` is left alone). Fires of one schedule are serialised, so concurrent stateful
   * fires lose no message.
   *
   * A fire with `dispatch` is first decided by decideFire against the schedule's activity at
   * `fire.firedAt`, read in the same transaction: `dispatch` writes as above plus the run's outbox
   * entry (held, when it waits); `skip` writes nothing at all and answers `busy` (a manual fire
   * is refused, not recorded). A stateful fire that waits does not append its message: the
   * runtime writes the session back whole when the active run is done (putSessionState), which
   * would erase it. The message is kept with the held outbox entry and appended when the run is
   * released (see reportRunStatus); the session is left as it is (inserted, with the message,
   * only if it does not exist yet), and the run's `sessionId` is the stateful session all the same.
   *
   * The append does not read the session's document into the process: what a fire costs does
   * not depend on how large its session has grown. A stateful session keeps at most
   * `statefulSessionMaxMessages` messages and about `statefulSessionMaxBytes` bytes of messages
   * (StorageOptions): an append past either drops the oldest in the same write, keeping the newest
   * (the appended message always, even alone over the byte bound).
   *
   * Returns `fired` with the stored session as it is after this fire (without the message of a
   * stateful fire that waits) and the run as written, `busy`, or `not-found`, writing nothing,
   * when the schedule (`session.sourceScheduleId` of `session.userId`) no longer exists.
   */
  abstract recordFire(fire: FireWrite): Promise<RecordFireOutcome>;

  /**
   * Claims up to `limit` schedules whose `nextRunAt` is at or before `now` (earliest first) and,
   * in the transaction that claims them, writes what `plan` decides for each: its fire
   * (session, run record, `lastRunAt`), its unfired runs, and the advance of `nextRunAt`. A crash
   * leaves a claim undone, never half done. Schedules another caller holds are skipped, not
   * waited for, so any number of callers (replicas) share the work and each due fire time
   * happens once. A stateful fire appends to its session as recordFire does (without reading
   * the session, within the same bound). A fire with `dispatch` is decided as in recordFire (a
   * stateful fire that waits keeps its message until it is released, as there), except that
   * `skip` writes its skipped run (and advances `nextRunAt`, leaving `lastRunAt`). A plan whose
   * fire cannot be written (the database refuses it) is recorded as a `failed` run instead; it
   * still advances `nextRunAt`, and the other schedules are not affected. `plan` must not throw.
   * Returns one outcome per claimed schedule.
   */
  abstract claimDueSchedules(
    now: Date,
    limit: number,
    plan: (schedule: Schedule) => DueFirePlan,
  ): Promise<ClaimOutcome[]>;

  /**
   * The user's runs of this schedule, newest first: scheduled_for descending, then id
   * descending. The database refuses a second `cron` or `catchup` run (of any status) of one
   * schedule for one `scheduledFor`; manual runs are not constrained.
   */
  abstract listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]>;

  /** One page of listRunsBySchedule's order, by keyset (scheduled_for, id); `next` is the last item's. */
  abstract pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>>;

  /** The user's run of this schedule, with its delivery attempts oldest first; null when there is none. */
  abstract getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null>;

  // ---- Dispatch. These serve the service itself and the agent runtime: they span users. ----

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
   * Records one delivery attempt of `attempt.runId` and its result, in one transaction. The
   * attempt is kept (getRun lists it) unless the run no longer exists. Then, by `result.outcome`:
   * - `delivered`: a `pending` run becomes `dispatched` (one the runtime has already moved on
   *   keeps its status); the outbox entry is deleted;
   * - `completed`: an active run takes `result.status` and `result.error`, `finishedAt` = `now`;
   *   the entry is deleted;
   * - `retry`: the entry becomes available again at `result.nextAttemptAt`, unleased, with one
   *   more attempt counted (only if the entry still exists);
   * - `gave-up`: an active run becomes `failed` with `result.error`, `finishedAt` = `now`; the
   *   entry is deleted.
   * A run that ends here releases its schedule's waiting run (see reportRunStatus).
   */
  abstract recordDeliveryAttempt(attempt: DispatchAttempt, result: DeliveryResult, now: Date): Promise<void>;

  /**
   * Applies a status the runtime reports for the run with this id, of any user, by runTransition:
   * `apply` sets the status, the error (`to` = `failed`: `error`; otherwise null) and, for a final
   * status, `finishedAt` = `now`; it also deletes the run's outbox entry (the runtime has the run,
   * so it is not delivered again), and a run that ends releases its schedule's waiting run: that
   * run's outbox entry becomes available at `now` and its `timeoutAt` = `now` + the schedule's run
   * timeout; the message a waiting stateful fire kept with its entry is appended to its session
   * (within the bound, as a fire appends; `updatedAt` = `now`) and cleared, in the same
   * transaction. A run that is not ended and has no `timeoutAt` (it was waiting) gets one: `now`
   * + the schedule's run timeout, so that no run stays active for ever; a message it kept is
   * appended to its session then, as its entry goes. `noop` answers `unchanged`,
   * `illegal` answers `illegal`; both write nothing.
   */
  abstract reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date): Promise<RunReportOutcome>;

  /**
   * Ends up to `limit` active runs whose `timeoutAt` is at or before `now`: `timed_out`, with
   * `finishedAt` = `now` and an error that gives the timeout; their outbox entries are deleted and
   * their schedules' waiting runs released (as in reportRunStatus). Returns how many it ended.
   */
  abstract timeOutRuns(now: Date, limit: number): Promise<number>;

  /**
   * Replaces the state of the session with this id, of any user, and sets its `updatedAt` to
   * `now`. Of a context over `statefulSessionMaxMessages` or `statefulSessionMaxBytes`
   * (StorageOptions), the newest messages within both are kept (the last one always), as an append
   * keeps them. Returns the session as stored afterwards, or null, writing nothing, when there is none.
   */
  abstract putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null>;

  /**
   * Deletes history beyond each schedule's `historyLimit` (schedules with none keep all): its
   * sessions other than the newest `historyLimit` (createdAt, id), never a stateful schedule's
   * session; and its runs other than the newest `historyLimit` (scheduledFor, id), never an active
   * one, with their delivery attempts. At most `limit` rows in all per call, and `limit` whenever
   * that many are due, so that the caller prunes in batches and knows from a full batch that
   * there may be more. Returns how many sessions and runs it deleted.
   */
  abstract pruneHistory(limit: number): Promise<number>;

  /**
   * Up to `limit` enabled schedules without a `nextRunAt`, of any user: rows written before the
   * scheduler kept it, or whose next run could not be computed, for the scheduler to reschedule.
   */
  abstract listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]>;

  /**
   * How many schedules, of any user, have a `nextRunAt` at or before `now`, and the earliest of
   * them: the work the scheduler has not claimed yet (a schedule being claimed counts until the
   * claim commits).
   */
  abstract dueBacklog(now: Date): Promise<DueBacklog>;

  /**
   * The earliest `nextRunAt` of any schedule, of any user, due or not (a schedule being claimed
   * counts until the claim commits); null when no schedule has one. The ticker sleeps until it.
   */
  abstract nextDueAt(): Promise<Date | null>;

  /**
   * Resolves when the storage answers and its schema is all there (every table, every migration
   * applied); rejects otherwise, with StorageUnavailable where the database is the trouble
   * (the readiness check).
   */
  abstract ping(): Promise<void>;

  /** Releases connections; the storage is unusable afterwards. */
  abstract close(): Promise<void>;
}

/**
 * Every method of the port, by name, for adapters that wrap them all at once (the compiler
 * keeps this list complete: a method added to StorageBase must be added here).
 */
export const STORAGE_METHODS = Object.keys({
  createSchedule: true,
  getSchedule: true,
  hasSchedule: true,
  listSchedules: true,
  updateSchedule: true,
  setMissingNextRun: true,
  deleteSchedule: true,
  getSession: true,
  listSessionsBySchedule: true,
  pageSessionsBySchedule: true,
  pageSessionsJson: true,
  recordFire: true,
  claimDueSchedules: true,
  listRunsBySchedule: true,
  pageRunsBySchedule: true,
  getRun: true,
  claimDeliveries: true,
  recordDeliveryAttempt: true,
  reportRunStatus: true,
  timeOutRuns: true,
  putSessionState: true,
  pruneHistory: true,
  listEnabledSchedulesWithoutNextRun: true,
  dueBacklog: true,
  nextDueAt: true,
  ping: true,
  close: true,
} satisfies Record<keyof StorageBase, true>) as (keyof StorageBase)[];
