import { DEFAULT_STORAGE_LIMITS } from '../config/app-config.js';

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
  /**
   * Whether the transitions the service makes (a policy pause, a budget exhausted, max runs
   * reached) write schedule events to deliver (ScheduleEvent): only where something delivers them
   * (dispatch is configured), so that they never pile up unread.
   */
  scheduleEvents: boolean;
}

export const DEFAULT_STORAGE_OPTIONS: StorageOptions = {
  statefulSessionMaxMessages: DEFAULT_STORAGE_LIMITS.statefulSessionMaxMessages,
  statefulSessionMaxBytes: DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes,
  scheduleEvents: false,
};
