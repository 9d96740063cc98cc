export const PERMISSION_MODES = ['default', 'accept_edits', 'explore', 'bypass', 'dont_ask'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

export const SCHEDULE_SOURCES = ['USER', 'AGENT'] as const;
export type ScheduleSource = (typeof SCHEDULE_SOURCES)[number];

/** The model an agent runs with; stored and returned as the client sent it. */
export interface ChatModelConfig {
  type: string;
  credential_id: string;
  model: string;
  parameters: Record<string, unknown>;
}

/** A user's cron schedule, as the services and storage see it. */
export interface Schedule {
  id: string;
  userId: string;
  agentId: string;
  name: string;
  description: string;
  enabled: boolean;
  timezone: string;
  cronExpression: string;
  /** Activation window, as instants; null means open on that side. */
  startedAt: Date | null;
  endedAt: Date | null;
  chatModelConfig: ChatModelConfig;
  stateful: boolean;
  permissionMode: PermissionMode;
  source: ScheduleSource;
  sourceSessionId: string | null;
  /** Fires missed by at most this much (service down, busy) coalesce into one late fire; older ones are recorded as missed. */
  catchupWindowSeconds: number;
  /** The next due fire time (UTC); null when disabled, past ended_at, or never due again. Kept by the service. */
  nextRunAt: Date | null;
  /** When the schedule last fired (by cron or by hand). */
  lastRunAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /**
   * Versions the user's fields: 1 when created, one more on every update. Fires (nextRunAt,
   * lastRunAt) leave it alone. The ETag of the schedule's representation.
   */
  version: number;
}

export const DEFAULT_CATCHUP_WINDOW_SECONDS = 300;
