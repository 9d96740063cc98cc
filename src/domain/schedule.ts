export const PERMISSION_MODES = ['default', 'accept_edits', 'explore', 'bypass', 'dont_ask'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

/**
 * What a fire does while the schedule has an active run (ACTIVE_RUN_STATUSES, not timed out):
 * `skip` records a skipped run; `buffer_one` lets one fire wait for the active run to end (later
 * ones are skipped); `allow` fires regardless.
 */
export const OVERLAP_POLICIES = ['skip', 'buffer_one', 'allow'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

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
  overlapPolicy: OverlapPolicy;
  /** A dispatched run without a final status this long after it fired becomes `timed_out`. */
  runTimeoutSeconds: number;
  /** Sessions and runs kept beyond the newest this many are pruned by the ticker; null keeps all. */
  historyLimit: number | null;
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
export const DEFAULT_OVERLAP_POLICY: OverlapPolicy = 'skip';
export const DEFAULT_RUN_TIMEOUT_SECONDS = 3600;
export const RUN_TIMEOUT_SECONDS_RANGE = { min: 1, max: 604_800 } as const;
export const HISTORY_LIMIT_RANGE = { min: 1, max: 100_000 } as const;
