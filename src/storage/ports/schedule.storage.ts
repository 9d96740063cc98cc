import type { Page, PageRequest } from '../../common/page.js';
import type { Schedule, ScheduleFilter } from '../../domain/schedule.js';

/** What ScheduleStorage.updateSchedule did. */
export type ScheduleUpdateOutcome =
  | { status: 'updated'; schedule: Schedule }
  | { status: 'not-found' }
  | { status: 'version-mismatch'; storedVersion: number };

/** What ScheduleStorage.putScheduleByKey did. */
export type SchedulePutOutcome =
  /** `created`: inserted; `replaced`: updated to what `build` returned; `unchanged`: `build` returned the record as it was, nothing written. */
  | { status: 'created' | 'replaced' | 'unchanged'; schedule: Schedule }
  /** `expectedVersion` was given and the stored version is not one of them (null: there is no such schedule). */
  | { status: 'version-mismatch'; storedVersion: number | null }
  /** It would be a new schedule, and the user has `maxPerUser` already. */
  | { status: 'limit-reached' };

/**
 * The user's schedules, as the schedule routes read and write them (SchedulesService). Every
 * implementation must pass the storage contract (test/storage/contract/). Records are scoped to a
 * user: a record another user owns behaves exactly like a missing one. Methods return copies.
 */
export abstract class ScheduleStorage {
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

  /**
   * The user's schedules that pass `filter` (scheduleMatches), newest first (created_at, then id,
   * both descending): all of them when `page` is null, else one page by keyset (created_at, id);
   * `total` counts every match, `next` is the last item's (createdAt, id) when there are more.
   */
  abstract listSchedules(userId: string, filter: ScheduleFilter, page: PageRequest | null): Promise<Page<Schedule>>;

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
   *   version + 1 (see updatedSchedule).
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
   * Creates or replaces the user's schedule whose key is `key`, atomically: one transaction reads
   * it (holding it, and on PostgreSQL every create of the user, so that concurrent puts of one key
   * queue: any number of them leave one schedule) and writes what `build` makes of it. `build`
   * gets the stored record (a copy) or null, and returns the record to store, with `key` = `key`;
   * returning the copy it got, unchanged (the same object), writes nothing. A replacement keeps
   * the stored id, owner, creation, `lastRunAt` and takes the next version (see updatedSchedule).
   * With `expectedVersion` (If-Match) it writes only over one of those versions; a creation needs
   * none given. A creation is refused when the user has `maxPerUser` schedules. `build` may throw
   * (a ValidationFailed): nothing is written and the error propagates.
   */
  abstract putScheduleByKey(
    userId: string,
    key: string,
    build: (current: Schedule | null) => Schedule,
    options?: { expectedVersion?: readonly number[]; maxPerUser?: number },
  ): Promise<SchedulePutOutcome>;

  /**
   * Deletes the user's schedule and, in the same transaction, every session and run it triggered,
   * with the runs' outbox entries and delivery attempts.
   * Returns false, deleting nothing, when the user has no such schedule.
   */
  abstract deleteSchedule(userId: string, scheduleId: string): Promise<boolean>;
}

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
