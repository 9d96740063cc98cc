import type { Schedule } from '../schedules/schedule.model';
import type { Message, Session } from '../sessions/session.model';

/** What a fire writes: the session it creates, or, for a stateful schedule, the message it appends. */
export interface FireWrite {
  /** The session to insert when no session with `session.id` exists yet. */
  session: Session;
  /**
   * Stateful schedules reuse one session: when a session with `session.id` already exists,
   * `message` is appended to its context and its `updatedAt` set to `firedAt`.
   */
  stateful: boolean;
  message: Message;
  firedAt: Date;
}

/** The stateful append, shared by every backend so they cannot drift apart. */
export function appendFireMessage(session: Session, fire: FireWrite): Session {
  const next = structuredClone(session);
  next.state.context.push(structuredClone(fire.message));
  next.updatedAt = fire.firedAt;
  return next;
}

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

  /** All of the user's schedules, newest first (created_at, then id, both descending). */
  abstract listSchedules(userId: string): Promise<Schedule[]>;

  /**
   * Replaces the stored fields of the schedule matched by `schedule.userId` and `schedule.id`
   * with the given ones. Returns false, changing nothing, when the user has no such schedule.
   */
  abstract updateSchedule(schedule: Schedule): Promise<boolean>;

  /**
   * Deletes the user's schedule and, in the same transaction, every session it triggered.
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
   * Writes the session of one fire atomically: inserts `fire.session`, or for a stateful fire
   * whose session already exists appends `fire.message` to it. Fires of one schedule are
   * serialised, so concurrent stateful fires lose no message. Returns the stored session, or
   * null, writing nothing, when the schedule (`session.sourceScheduleId` of `session.userId`)
   * no longer exists.
   */
  abstract recordFire(fire: FireWrite): Promise<Session | null>;

  /** Releases connections; the storage is unusable afterwards. */
  abstract close(): Promise<void>;
}
