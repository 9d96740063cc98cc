/** Called with the instant a schedule is now due at (see DueNotifications). */
export type DueListener = (at: Date) => void;

/**
 * Tells the other processes sharing the storage that a schedule's next run was written, so that
 * their tickers need not wait for their next planned tick; and hears what they tell. Its own
 * injection token, bound by StorageModule next to the storage ports. A notification is a hint, never
 * the truth: it may be lost (the tickers still look at the storage at least once per maximum
 * sleep), and a listener may hear its own process's.
 */
export abstract class DueNotifications {
  /**
   * Tells the other processes that a schedule is due at `at`. Call it after the write committed,
   * so that whoever hears it finds the schedule; resolves once sent. Rejects if it cannot be sent.
   */
  abstract publish(at: Date): Promise<void>;

  /**
   * Calls `listener` with each instant another process publishes, until the returned function is
   * called. When notifications may have been missed (a lost connection came back), the listener
   * hears the epoch: whatever it planned, it should look at the storage again now.
   */
  abstract subscribe(listener: DueListener): () => void;
}

/**
 * One process has the storage to itself (memory, SQLite): there is no one else to tell, and its
 * own ticker is told directly (SchedulerWakeUp).
 */
export class SingleProcessDueNotifications extends DueNotifications {
  async publish(): Promise<void> {}

  subscribe(): () => void {
    return () => undefined;
  }
}

/** Called when another process made outbox entries deliverable (see OutboxNotifications). */
export type OutboxListener = () => void;

/**
 * Hears the other processes sharing the storage say, as their writes commit, that outbox entries
 * became deliverable (see DispatchHandOff), so that this process's dispatcher looks at once
 * rather than at its next poll. Its own injection token, bound by StorageModule. A hint, never the
 * truth: it may be lost (the dispatcher still polls), and after a lost connection came back the
 * listener hears it once, since anything sent meanwhile was missed.
 */
export abstract class OutboxNotifications {
  /** Calls `listener` each time another process says so, until the returned function is called. */
  abstract subscribe(listener: OutboxListener): () => void;
}

/** One process has the storage to itself: its dispatcher is told directly (DispatchHandOff). */
export class SingleProcessOutboxNotifications extends OutboxNotifications {
  subscribe(): () => void {
    return () => undefined;
  }
}
