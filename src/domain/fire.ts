import { v7 as uuidv7 } from 'uuid';
import type { Run, RunOverrides, RunTrigger, SkipReason } from './run.js';
import type { OverlapPolicy, Schedule } from './schedule.js';
import type { Message, Session } from './session.js';

/**
 * What a fire writes: the session it creates (or, for a stateful schedule, the message it
 * appends), its run record, and the schedule's `lastRunAt`.
 */
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
  /** `succeeded` at once in record-only mode; `pending`, with its `timeoutAt`, when dispatched. */
  run: Run;
  /**
   * Null in record-only mode (no DISPATCH_URL). Otherwise the fire is handed to the runtime: it is
   * subject to the schedule's overlap policy against the runs active when it is written (see
   * decideFire), and writes an outbox entry in the same transaction as its session and run.
   */
  dispatch: { overlapPolicy: OverlapPolicy; runTimeoutSeconds: number } | null;
}

/** The schedule's runs that are active when a fire is written (see ACTIVE_RUN_STATUSES). */
export interface ScheduleActivity {
  /** An active run that is not waiting (pending, dispatched or running, not timed out), if any. */
  activeRunId: string | null;
  /** The run waiting under `buffer_one` for the active one to end (its outbox entry is held), if any. */
  waitingRunId: string | null;
}

export const NO_ACTIVITY: ScheduleActivity = { activeRunId: null, waitingRunId: null };

/** What a fire writes once the overlap policy has been applied to it (see decideFire). */
export type DecidedFire =
  /** Record-only mode: the session and a `succeeded` run. */
  | { kind: 'record'; fire: FireWrite }
  /**
   * The session, a `pending` run and an outbox entry, deliverable from `outboxAvailableAt`; null
   * holds it: the run waits (buffer_one) until the active run ends, and its `timeoutAt` is null.
   */
  | { kind: 'dispatch'; fire: FireWrite; outboxAvailableAt: Date | null; replaces?: string[] }
  /**
   * Nothing but `run`, a `skipped` record without a session (cron and catch-up fires; a manual
   * fire writes nothing at all and is refused, naming `blockingRunId`, or when its budget's period
   * resets: `budgetResetsAt`, the one set when the budget is the reason).
   */
  | { kind: 'skip'; run: Run; blockingRunId: string | null; budgetResetsAt: Date | null };

/** What claiming a due schedule writes, decided by the scheduler from the schedule as claimed. */
export interface DueFirePlan {
  scheduleId: string;
  /** The fire, or null when every pending fire time was missed. */
  fire: FireWrite | null;
  /** Runs recorded without a fire: missed fire times, or a fire that could not even be planned. */
  unfired: Run[];
  /** The schedule's next fire time after this claim. */
  nextRunAt: Date | null;
  /** The fire times the user skipped that are still ahead after this claim (see Schedule.skippedFireTimes); omitted: as they are. */
  skippedFireTimes?: Date[];
}

/** What became of one claimed schedule. */
export interface ClaimOutcome {
  scheduleId: string;
  /**
   * `fired`: the plan was written. `failed`: its fire could not be written; a failed run was
   * recorded in its place where the database accepts one, and `nextRunAt` advanced all the same.
   */
  status: 'fired' | 'failed';
  error?: string;
  /** A `fired` plan whose fire was written as a skipped run instead: why (the overlap policy, the budget). */
  skipReason?: SkipReason;
}

/** The bounds on a stateful session's context (StorageOptions' statefulSessionMax…). */
export interface ContextBounds {
  /** Messages kept at most (≥ 1). */
  maxMessages: number;
  /** Bytes of messages kept at most, each message counted as its JSON text in UTF-8. */
  maxBytes: number;
}

/**
 * The bounds on a stateful session's context: the oldest items of `list` go until at most
 * `maxMessages` remain and their sizes (`sizeOf`) sum to at most `maxBytes`. The newest item always
 * stays, even alone over `maxBytes`. Changes `list` in place; measures only the items it keeps (and
 * the first it drops), newest first. (The SQL backends do the same in SQL.)
 */
export function keepNewestWithin<T>(list: T[], bounds: ContextBounds, sizeOf: (item: T) => number): void {
  let kept = 0;
  let bytes = 0;
  while (kept < list.length && kept < bounds.maxMessages) {
    bytes += sizeOf(list[list.length - 1 - kept]);
    if (kept > 0 && bytes > bounds.maxBytes) break;
    kept += 1;
  }
  if (kept < list.length) list.splice(0, list.length - kept);
}

/** `item` goes last, then keepNewestWithin: the bound a fire's append keeps. */
export function appendKeepingNewest<T>(list: T[], item: T, bounds: ContextBounds, sizeOf: (item: T) => number): void {
  list.push(item);
  keepNewestWithin(list, bounds, sizeOf);
}

/** The size the byte bound counts for a message stored as JSON text. */
export function jsonTextBytes(json: string): number {
  return Buffer.byteLength(json, 'utf8');
}

/** The one session every fire of a stateful schedule appends to. */
export function statefulSessionId(scheduleId: string): string {
  return `${scheduleId}_stateful`;
}

/** The prompt a fire sends the agent: the schedule's description, wrapped as a scheduled task. */
export function scheduledTaskMessage(schedule: Schedule, firedAt: Date): Message {
  const at = firedAt.toISOString();
  return {
    name: 'user',
    content: [{ type: 'text', text: `<scheduled-task>\n${schedule.description}\n</scheduled-task>`, id: uuidv7() }],
    id: uuidv7(),
    metadata: {},
    created_at: at,
    finished_at: at,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

/**
 * What one fire of `schedule` at `firedAt` writes: a fresh session, or the stateful one with the
 * prompt appended, and its run record (for the cron time `scheduledFor`). With `dispatching`,
 * the run is `pending` and handed to the runtime (see FireWrite.dispatch); otherwise it is
 * `succeeded` as soon as written.
 */
export function fireWrite(
  fired: Schedule,
  firedAt: Date,
  trigger: RunTrigger = 'manual',
  scheduledFor: Date = firedAt,
  dispatching = false,
  asked: { overrides?: RunOverrides | null; replayOf?: string | null } = {},
): FireWrite {
  const overrides = asked.overrides ?? null;
  // The overrides change what this fire sends, not the schedule.
  const schedule = overrides ? withOverrides(fired, overrides) : fired;
  const message = scheduledTaskMessage(schedule, firedAt);
  const id = schedule.stateful ? statefulSessionId(schedule.id) : uuidv7();
  const session: Session = {
    id,
    userId: schedule.userId,
    agentId: schedule.agentId,
    config: {
      workspace_id: null,
      name: schedule.name,
      chat_model_config: structuredClone(schedule.chatModelConfig),
      fallback_chat_model_config: null,
    },
    source: 'schedule',
    sourceScheduleId: schedule.id,
    teamId: null,
    state: {
      session_id: id,
      summary: '',
      context: [message],
      reply_id: null,
      cur_iter: 0,
      permission_context: {
        mode: schedule.permissionMode,
        working_directories: {},
        allow_rules: {},
        deny_rules: {},
        ask_rules: {},
      },
      tool_context: { max_cache_files: 100, max_cache_bytes: 25000, read_file_cache: [], activated_groups: [] },
      tasks_context: { tasks: [] },
    },
    createdAt: firedAt,
    updatedAt: firedAt,
  };
  const run: Run = {
    id: uuidv7(),
    scheduleId: schedule.id,
    userId: schedule.userId,
    sessionId: id,
    trigger,
    scheduledFor,
    firedAt,
    status: dispatching ? 'pending' : 'succeeded',
    error: null,
    skipReason: null,
    finishedAt: dispatching ? null : firedAt,
    timeoutAt: dispatching ? timeoutAfter(firedAt, schedule.runTimeoutSeconds) : null,
    usage: null,
    overrides: overrides && structuredClone(overrides),
    replayOf: asked.replayOf ?? null,
    gaveUp: false,
  };
  const dispatch = dispatching ? { overlapPolicy: schedule.overlapPolicy, runTimeoutSeconds: schedule.runTimeoutSeconds } : null;
  return { session, stateful: schedule.stateful, message, firedAt, run, dispatch };
}

/** The schedule as one fire with `overrides` sends it. */
export function withOverrides(schedule: Schedule, overrides: RunOverrides): Schedule {
  return {
    ...schedule,
    description: overrides.description ?? schedule.description,
    chatModelConfig: overrides.chatModelConfig ?? schedule.chatModelConfig,
    permissionMode: overrides.permissionMode ?? schedule.permissionMode,
  };
}

/** When a run dispatched (or released from waiting) at `at` times out. */
export function timeoutAfter(at: Date, runTimeoutSeconds: number): Date {
  return new Date(at.getTime() + runTimeoutSeconds * 1000);
}

/**
 * Applies the overlap policy of a fire to the schedule's activity when it is written (unless the
 * schedule's budget is exhausted until `budgetExhaustedUntil`: then it is skipped, see
 * budgetAtFire):
 * - record-only fires (no `dispatch`) always fire;
 * - `allow` always fires;
 * - `skip` is skipped while any run is active or waiting;
 * - `buffer_one` waits behind an active run, unless a run waits already: then it is skipped;
 * - `replace` fires, and the active and waiting runs are to be cancelled (`replaces`).
 * The storage calls this inside the transaction that holds the schedule, so that two fires of one
 * schedule decide one after the other.
 */
export function decideFire(fire: FireWrite, activity: ScheduleActivity, budgetExhaustedUntil: Date | null = null): DecidedFire {
  // An exhausted budget skips the fire whatever the mode and the policy.
  if (budgetExhaustedUntil) return { kind: 'skip', run: budgetSkippedRun(fire.run, budgetExhaustedUntil), blockingRunId: null, budgetResetsAt: budgetExhaustedUntil };
  if (!fire.dispatch) return { kind: 'record', fire };
  const { overlapPolicy } = fire.dispatch;
  const blocking = activity.activeRunId ?? activity.waitingRunId;
  if (overlapPolicy === 'allow' || !blocking) return { kind: 'dispatch', fire, outboxAvailableAt: fire.firedAt };
  if (overlapPolicy === 'replace') {
    const replaces = [activity.activeRunId, activity.waitingRunId].filter((id): id is string => id !== null);
    return { kind: 'dispatch', fire, outboxAvailableAt: fire.firedAt, replaces };
  }
  if (overlapPolicy === 'buffer_one' && !activity.waitingRunId) {
    return { kind: 'dispatch', fire: { ...fire, run: { ...fire.run, timeoutAt: null } }, outboxAvailableAt: null };
  }
  const skipped: Run = {
    ...fire.run,
    sessionId: null,
    firedAt: null,
    status: 'skipped',
    error: `skipped: run ${blocking} of this schedule was still active (overlap_policy ${overlapPolicy})`,
    skipReason: 'overlap',
    finishedAt: null,
    timeoutAt: null,
  };
  return { kind: 'skip', run: skipped, blockingRunId: blocking, budgetResetsAt: null };
}

/**
 * Whether a decided fire keeps its message with its held outbox entry instead of appending it
 * now: a stateful fire that waits (buffer_one). The active run's runtime writes the shared session
 * back whole when it is done (putSessionState), which would erase a message appended before; so
 * the message is appended when the waiting run is released.
 */
export function keepsMessageUntilReleased(decided: DecidedFire): boolean {
  return decided.kind === 'dispatch' && decided.outboxAvailableAt === null && decided.fire.stateful;
}

/**
 * The run a claimed fire leaves when the database refused to write it (see
 * FiringStorage.claimDueSchedules): the same run, `failed` with the refusal, without a session.
 */
export function failedFireRun(run: Run, error: string): Run {
  return { ...run, sessionId: null, status: 'failed', error, finishedAt: null, timeoutAt: null };
}

/** The run a fire leaves when its budget's period is exhausted: `skipped`, without a session, naming when the period resets. */
export function budgetSkippedRun(run: Run, resetsAt: Date): Run {
  return {
    ...run,
    sessionId: null,
    firedAt: null,
    status: 'skipped',
    error: `skipped: the budget of this schedule is exhausted until ${resetsAt.toISOString()}`,
    skipReason: 'budget_exhausted',
    finishedAt: null,
    timeoutAt: null,
  };
}

/** The error of a run that gave no final status within its schedule's run timeout. */
export function timedOutError(runTimeoutSeconds: number): string {
  return `timed out: no final status within run_timeout_seconds (${runTimeoutSeconds} s)`;
}

/** A run recorded for a fire time the user skipped. */
export function userSkippedRun(schedule: Schedule, scheduledFor: Date): Run {
  return { ...unfiredRun(schedule, scheduledFor, 'missed', 'skipped: the user skipped this fire time'), status: 'skipped', skipReason: 'user' };
}

/** A run recorded for a cron fire time that did not fire. */
export function unfiredRun(schedule: Schedule, scheduledFor: Date, status: 'missed' | 'failed', error: string): Run {
  return {
    id: uuidv7(),
    scheduleId: schedule.id,
    userId: schedule.userId,
    sessionId: null,
    trigger: 'cron',
    scheduledFor,
    firedAt: null,
    status,
    error,
    skipReason: null,
    finishedAt: null,
    timeoutAt: null,
    usage: null,
    overrides: null,
    replayOf: null,
    gaveUp: false,
  };
}
