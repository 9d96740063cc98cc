export const RUN_TRIGGERS = ['cron', 'manual', 'catchup'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const RUN_STATUSES = ['succeeded', 'failed', 'missed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One fire of a schedule, or one fire time it missed: the schedule's run history. */
export interface Run {
  id: string;
  scheduleId: string;
  userId: string;
  /** The session the fire created or appended to; null for failed and missed runs. */
  sessionId: string | null;
  trigger: RunTrigger;
  /** The cron time this run is for (for a manual run: when it was asked for). */
  scheduledFor: Date;
  /** When it actually fired; null for a missed run. */
  firedAt: Date | null;
  status: RunStatus;
  error: string | null;
}
