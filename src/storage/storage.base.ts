import type { Page, PageRequest } from '../common/page.js';
import type { ClaimOutcome, DueFirePlan, FireWrite } from '../domain/fire.js';
import type { Run } from '../domain/run.js';
import type { Schedule } from '../domain/schedule.js';
import type { Session } from '../domain/session.js';

/**
 * The storage port, and its own injection token. Every implementation must pass
 * `runStorageContract` (storage.contract.ts). Records are always scoped to a user: a record
 * another user owns behaves exactly like a missing one. Methods return copies; callers may
 * mutate what they get without touching what is stored.
 */
export abstract class StorageBase {
  /** Inserts a new schedule. */
  abstract createSchedule(schedule: Schedule): Promise<void>;

  /** The user's schedule with this id, or null. */
  abstract getSchedule(userId: string, scheduleId: string): Promise<Schedule | null>;

  /** Whether the user has a schedule with this id (cheaper than getSchedule). */
  abstract hasSchedule(userId: string, scheduleId: string): Promise<boolean>;

  /** All of the user's schedules, newest first (created_at, then id, both descending). */
  abstract listSchedules(userId: string): Promise<Schedule[]>;

  /**
   * Replaces the stored fields of the schedule matched by `schedule.userId` and `schedule.id`
   * with the given ones, except the fields fires own: `lastRunAt` never, `nextRunAt` only when
   * `reschedule` is true. Returns false, changing nothing, when the user has no such schedule.
   */
  abstract updateSchedule(schedule: Schedule, reschedule: boolean): Promise<boolean>;

  /**
   * Deletes the user's schedule and, in the same transaction, every session and run it triggered.
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
   * Writes one fire atomically: inserts `fire.session`, or for a stateful fire whose session
   * already exists appends `fire.message` to it; inserts `fire.run`; sets the schedule's
   * `lastRunAt` to `fire.firedAt` (its `nextRunAt` is left alone). Fires of one schedule are
   * serialised, so concurrent stateful fires lose no message. Returns the stored session, or
   * null, writing nothing, when the schedule (`session.sourceScheduleId` of `session.userId`)
   * no longer exists.
   */
  abstract recordFire(fire: FireWrite): Promise<Session | null>;

  /**
   * Claims up to `limit` schedules whose `nextRunAt` is at or before `now` (earliest first) and,
   * in the transaction that claims them, writes what `plan` decides for each: its fire
   * (session, run record, `lastRunAt`), its unfired runs, and the advance of `nextRunAt`. A crash
   * leaves a claim undone, never half done. Schedules another caller holds are skipped, not
   * waited for, so any number of callers (replicas) share the work and each due fire time
   * happens once. A plan whose fire cannot be written (the database refuses it) is recorded as
   * a `failed` run instead; it still advances `nextRunAt`, and the other schedules are not
   * affected. `plan` must not throw. Returns one outcome per claimed schedule.
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

  /**
   * Up to `limit` enabled schedules without a `nextRunAt`, of any user: rows written before the
   * scheduler kept it, or whose next run could not be computed, for the scheduler to reschedule.
   */
  abstract listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]>;

  /** Resolves when the storage answers a trivial query; rejects otherwise (the health check). */
  abstract ping(): Promise<void>;

  /** Releases connections; the storage is unusable afterwards. */
  abstract close(): Promise<void>;
}
