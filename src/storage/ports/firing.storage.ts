import type { ClaimOutcome, DueFirePlan, FireWrite } from '../../domain/fire.js';
import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';

/** What FiringStorage.recordFire did. */
export type RecordFireOutcome =
  /** Written: the session it created or appended to, and its run as written. */
  | { status: 'fired'; sessionId: string; run: Run }
  /** The overlap policy refused the fire (see decideFire): nothing was written. */
  | { status: 'busy'; blockingRunId: string }
  /** The schedule's budget is exhausted for the period of the fire: nothing was written; the period resets at `resetsAt`. */
  | { status: 'budget-exhausted'; resetsAt: Date }
  /** A fire that takes its fire time (a backfill, see takesFireTime) whose time has a run already: nothing was written. */
  | { status: 'taken' }
  | { status: 'not-found' };

/** Schedules that are due and not yet claimed (see FiringStorage.dueBacklog). */
export interface DueBacklog {
  /** How many schedules have a `nextRunAt` at or before the instant asked about. */
  count: number;
  /** The earliest of those `nextRunAt`, or null when none is due. */
  oldestNextRunAt: Date | null;
}

/**
 * Fires and their bookkeeping: what the ticker (SchedulerService) does to the schedules of every
 * user, and the one fire a user asks for (POST /schedule/{id}/run). A fire writes a session, a
 * run and the schedule's times in one transaction. Every implementation must pass the storage
 * contract (test/storage/contract/).
 */
export abstract class FiringStorage {
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
   * released (see DeliveryStorage.reportRunStatus); the session is left as it is (inserted, with
   * the message, only if it does not exist yet), and the run's `sessionId` is the stateful session
   * all the same.
   *
   * The append does not read the session's document into the process: what a fire costs does
   * not depend on how large its session has grown. A stateful session keeps at most
   * `statefulSessionMaxMessages` messages and about `statefulSessionMaxBytes` bytes of messages
   * (StorageOptions): an append past either drops the oldest in the same write, keeping the newest
   * (the appended message always, even alone over the byte bound).
   *
   * A fire whose run takes its fire time (a backfill) whose time has such a run already answers
   * `taken`, writing nothing (checked while the schedule is held, so that concurrent backfills of
   * one time write it once).
   *
   * Returns `fired` with the session's id and the run as written (nothing is read back: a stateful
   * session may be large), `busy`, or `not-found`, writing nothing, when the schedule
   * (`session.sourceScheduleId` of `session.userId`) no longer exists.
   */
  abstract recordFire(fire: FireWrite): Promise<RecordFireOutcome>;

  /** Of these fire times of the user's schedule, those that have a run that takes its fire time (see takesFireTime), as epoch ms. */
  abstract takenFireTimes(userId: string, scheduleId: string, times: readonly Date[]): Promise<Set<number>>;

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
   * fire cannot be written (the database refuses it) is recorded as a `failed` run instead
   * (failedFireRun); it still advances `nextRunAt`, and the other schedules are not affected.
   * `plan` must not throw. Returns one outcome per claimed schedule.
   */
  abstract claimDueSchedules(now: Date, limit: number, plan: (schedule: Schedule) => DueFirePlan): Promise<ClaimOutcome[]>;

  /**
   * The earliest `nextRunAt` of any schedule, of any user, due or not (a schedule being claimed
   * counts until the claim commits); null when no schedule has one. The ticker sleeps until it.
   */
  abstract nextDueAt(): Promise<Date | null>;

  /**
   * How many schedules, of any user, have a `nextRunAt` at or before `now`, and the earliest of
   * them: the work the scheduler has not claimed yet (a schedule being claimed counts until the
   * claim commits).
   */
  abstract dueBacklog(now: Date): Promise<DueBacklog>;

  /**
   * Ends up to `limit` active runs whose `timeoutAt` is at or before `now`: `timed_out`, with
   * `finishedAt` = `now` and an error that gives the timeout; their outbox entries are deleted and
   * their schedules' waiting runs released (as in DeliveryStorage.reportRunStatus). Returns how
   * many it ended.
   */
  abstract timeOutRuns(now: Date, limit: number): Promise<number>;

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
   * The scheduler's repair of a schedule that should fire but has no `nextRunAt` (see
   * listEnabledSchedulesWithoutNextRun). In one transaction, like ScheduleStorage.updateSchedule,
   * it reads the user's schedule and, if it is still enabled and still without a `nextRunAt`, sets
   * `nextRunAt` to what `plan` computes from the record as stored now. Nothing else changes,
   * `version` neither: like a fire's, this is bookkeeping, not a change of the user's fields.
   * Returns the `nextRunAt` written, or null when nothing was (no such schedule, disabled, already
   * planned, or `plan` returned null). If `plan` throws, nothing is written and the error propagates.
   */
  abstract setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null>;
}
