import type { Page, PageRequest } from '../../common/page.js';
import type { Run, RunStatus, RunTrigger, RunWithAttempts } from '../../domain/run.js';

/** Which of a user's runs GET /runs lists. */
export interface RunFilter {
  scheduleId?: string;
  status?: RunStatus;
  trigger?: RunTrigger;
  since?: Date;
}
import type { Session } from '../../domain/session.js';

/**
 * A session with its config and state as the JSON text they are stored as: a string, or its UTF-8
 * bytes where the storage keeps those (memory), so that the page copies them without encoding.
 */
export type SessionJson = Omit<Session, 'config' | 'state'> & { configJson: string | Buffer; stateJson: string | Buffer };

/**
 * What a schedule left behind: its sessions and its runs, as the list routes read them (newest
 * first, whole or by keyset page). Read-only. Records are scoped to a user: another user's are
 * never seen. Every implementation must pass the storage contract (test/storage/contract/).
 */
export abstract class HistoryStorage {
  /**
   * The user's sessions triggered by this schedule, newest first (created_at descending, then id
   * descending, so sessions created in the same millisecond keep a stable order), or null when the
   * user has no such schedule (one question to the database: the page, its count and the
   * ownership are one statement on the SQL backends). One page by
   * keyset (created_at, id) rather than offset, so a page costs the same however deep it is, or
   * every session when `page` is null (`next` null then). `next` is the last item's (createdAt,
   * id) when there are more. Each session's config and state come as the JSON text they are
   * stored as, never parsed: the sessions page splices them into its response as they are. The
   * text parses to the documents as written, though not necessarily to the same bytes
   * (PostgreSQL's jsonb would print spaces); it is always a document this service wrote.
   */
  abstract pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson> | null>;

  /**
   * The user's runs of this schedule, newest first: scheduled_for descending, then id
   * descending. The database refuses a second `cron` or `catchup` run (of any status) of one
   * schedule for one `scheduledFor`; manual runs are not constrained.
   */
  abstract listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]>;

  /** One page of listRunsBySchedule's order, by keyset (scheduled_for, id); `next` is the last item's. */
  abstract pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>>;

  /**
   * The user's runs across their schedules that pass `filter` (each field given must match;
   * `since`: scheduled at or after it), one page newest first by keyset (scheduled_for, id);
   * `total` counts every match.
   */
  abstract pageRunsOfUser(userId: string, filter: RunFilter, page: PageRequest): Promise<Page<Run>>;

  /** The user's run of this schedule, with its delivery attempts oldest first; null when there is none. */
  abstract getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null>;
}
