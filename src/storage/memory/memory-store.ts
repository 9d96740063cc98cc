import type { Page, PageRequest } from '../../common/page.js';
import { type ContextBounds, timeoutAfter } from '../../domain/fire.js';
import { CANCELLED_ERROR, type DispatchAttempt, type Run, type RunStatus, type RunUsage, takesFireTime } from '../../domain/run.js';
import { failuresAfter, type Schedule } from '../../domain/schedule.js';
import { scheduleEvent, type ScheduleEvent } from '../../domain/schedule-event.js';
import { afterRunsEnded } from '../../domain/schedule-stats.js';
import { DispatchHandOff } from '../dispatch-hand-off.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';
import { appendMessage, type StoredSession } from './stored-session.js';

/** A dispatched run's delivery: held (availableAt null) while the run waits its turn under buffer_one. */
export interface OutboxEntry {
  runId: string;
  scheduleId: string;
  availableAt: Date | null;
  /** Attempts made so far (counted by each retry). */
  attempts: number;
  /** Claimed by a dispatcher until then; null when not claimed. */
  leaseUntil: Date | null;
  /**
   * A waiting stateful fire's message (JSON text), appended to its session when the run is
   * released, not when it fired (see keepsMessageUntilReleased); null otherwise.
   */
  pendingMessage: string | null;
}

/** A schedule event still to deliver. */
export interface StoredEvent {
  event: ScheduleEvent;
  availableAt: Date;
  /** Attempts made so far. */
  attempts: number;
  /** Claimed by a dispatcher until then; null when not claimed. */
  leaseUntil: Date | null;
}

/** Newest first: `at` descending, then id descending (byte order, as the SQL backends use). */
function newestFirst<T extends { id: string }>(at: (item: T) => Date) {
  return (a: T, b: T): number => {
    const byTime = at(b).getTime() - at(a).getTime();
    if (byTime !== 0) return byTime;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  };
}
export const byCreatedAt = newestFirst<{ id: string; createdAt: Date }>((x) => x.createdAt);
export const byScheduledFor = newestFirst<Run>((r) => r.scheduledFor);

/**
 * What the memory storage keeps, shared by its ports: every table as a map, and the writes more
 * than one port makes (a run's insertion and deletion, a run's ending). Each port method checks
 * everything before it changes anything, and JavaScript runs it to the end without interleaving,
 * so each write is atomic.
 */
export class MemoryStore {
  readonly schedules = new Map<string, Schedule>();
  readonly sessions = new Map<string, StoredSession>();
  readonly runs = new Map<string, Run>();
  /** The unique constraint on scheduled runs: `${scheduleId} ${scheduledFor}`. */
  readonly scheduledRunSlots = new Set<string>();
  /** Dispatched runs still to deliver, by run id. */
  readonly outbox = new Map<string, OutboxEntry>();
  /** Each run's delivery attempts, oldest first, by run id. */
  readonly attempts = new Map<string, DispatchAttempt[]>();
  /** Schedule events still to deliver, by id. */
  readonly events = new Map<string, StoredEvent>();
  readonly contextBounds: ContextBounds;

  constructor(
    readonly options: StorageOptions = DEFAULT_STORAGE_OPTIONS,
    readonly handOff = new DispatchHandOff(),
  ) {
    this.contextBounds = { maxMessages: options.statefulSessionMaxMessages, maxBytes: options.statefulSessionMaxBytes };
  }

  ownSchedule(userId: string, scheduleId: string): Schedule | undefined {
    const schedule = this.schedules.get(scheduleId);
    return schedule?.userId === userId ? schedule : undefined;
  }

  /** The user's sessions of the schedule, newest first (not copied). */
  sessionsOf(userId: string, scheduleId: string): StoredSession[] {
    return [...this.sessions.values()].filter((s) => s.userId === userId && s.sourceScheduleId === scheduleId).sort(byCreatedAt);
  }

  /** The user's runs of the schedule, newest first (not copied). */
  runsOf(userId: string, scheduleId: string): Run[] {
    return [...this.runs.values()].filter((r) => r.userId === userId && r.scheduleId === scheduleId).sort(byScheduledFor);
  }

  /** Refuses runs whose ids are taken, or that take a scheduled slot twice (the SQL backends' keys). */
  checkRunsAllowed(runs: Run[]): void {
    if (runs.some((r, i) => this.runs.has(r.id) || runs.findIndex((other) => other.id === r.id) !== i)) {
      throw new Error('a run with this id already exists');
    }
    const slots = runs.filter((r) => takesFireTime(r.trigger)).map(slotOf);
    if (slots.some((slot, i) => this.scheduledRunSlots.has(slot) || slots.indexOf(slot) !== i)) {
      throw new Error('a scheduled run for this schedule and time already exists');
    }
  }

  insertRun(run: Run): void {
    this.runs.set(run.id, structuredClone(run));
    if (takesFireTime(run.trigger)) this.scheduledRunSlots.add(slotOf(run));
  }

  /**
   * Cancels an active run (a user's cancel, or the `replace` policy): it ends `cancelled` (see
   * endRun), and when the runtime may have it (not `pending`, or its entry leased past `now`) a
   * `run.cancelled` event is kept for the runtime.
   */
  cancelRun(run: Run, now: Date): void {
    const lease = this.outbox.get(run.id)?.leaseUntil;
    const runtimeMayHaveIt = run.status !== 'pending' || (lease != null && lease > now);
    this.endRun(run, 'cancelled', CANCELLED_ERROR, now);
    if (runtimeMayHaveIt) this.addEvents([scheduleEvent({ id: run.scheduleId, userId: run.userId }, 'run.cancelled', now, null, run.id)]);
  }

  /** Keeps these events to deliver, where events are kept (StorageOptions.scheduleEvents). */
  addEvents(events: readonly ScheduleEvent[]): void {
    if (!this.options.scheduleEvents) return;
    for (const event of events) this.events.set(event.id, { event: structuredClone(event), availableAt: new Date(event.occurredAt), attempts: 0, leaseUntil: null });
  }

  /** Deletes a run with what belongs to it: its outbox entry and delivery attempts. */
  deleteRun(run: Run): void {
    this.runs.delete(run.id);
    this.outbox.delete(run.id);
    this.attempts.delete(run.id);
    if (takesFireTime(run.trigger)) this.scheduledRunSlots.delete(slotOf(run));
  }

  /**
   * Ends an active run: its final status, error and finishedAt; its outbox entry goes; and, the
   * schedule now free, its waiting run is released: deliverable now, timing out from now (the
   * dispatcher is told).
   */
  endRun(run: Run, status: RunStatus, error: string | null, now: Date, usage: RunUsage | null = null): void {
    run.status = status;
    run.error = error;
    run.finishedAt = new Date(now);
    run.usage = usage && { ...usage };
    this.outbox.delete(run.id);
    const schedule = this.schedules.get(run.scheduleId);
    if (!schedule) return;
    // The failure policy (failuresAfter): a schedule that reaches its pause_after_failures pauses.
    const { consecutiveFailures, pause } = failuresAfter(schedule, [status]);
    schedule.consecutiveFailures = consecutiveFailures;
    const { stats, budgetExhaustedUntil, exhaustedNow } = afterRunsEnded(schedule, [{ status, at: now, error, usage }], now);
    Object.assign(schedule, { stats, budgetExhaustedUntil });
    if (exhaustedNow) this.addEvents([scheduleEvent(schedule, 'schedule.budget_exhausted', now, budgetExhaustedUntil)]);
    if (pause) {
      Object.assign(schedule, { enabled: false, pausedReason: 'consecutive_failures', pauseNote: null, nextRunAt: null });
      schedule.version++;
      schedule.updatedAt = new Date(now);
      this.addEvents([scheduleEvent(schedule, 'schedule.paused', now)]);
    }
    for (const entry of this.outbox.values()) {
      if (entry.scheduleId !== run.scheduleId || entry.availableAt !== null) continue;
      entry.availableAt = new Date(now);
      this.runs.get(entry.runId)!.timeoutAt = timeoutAfter(now, schedule.runTimeoutSeconds);
      this.appendKeptMessage(entry, now);
      this.handOff.ready();
    }
  }

  /**
   * Appends the message a waiting stateful fire kept with its outbox entry to its run's session
   * (as a fire appends, within the bound; `updatedAt` = `now`), and clears it from the entry.
   */
  appendKeptMessage(entry: OutboxEntry, now: Date): void {
    if (entry.pendingMessage === null) return;
    const sessionId = this.runs.get(entry.runId)?.sessionId;
    const session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (session) {
      appendMessage(session, entry.pendingMessage, this.contextBounds);
      session.pageBytes = null;
      session.updatedAt = new Date(now);
    }
    entry.pendingMessage = null;
  }
}

export function slotOf(run: Pick<Run, 'scheduleId' | 'scheduledFor'>): string {
  return `${run.scheduleId} ${run.scheduledFor.toISOString()}`;
}

/** A page of a list sorted newest first by (at, id), starting after `page.after`; the items are not copied. */
export function pageOf<T extends { id: string }>(sorted: T[], page: PageRequest, at: (item: T) => Date): Page<T> {
  const { after } = page;
  const start = after
    ? sorted.findIndex((x) => at(x) < after.at || (at(x).getTime() === after.at.getTime() && x.id < after.id))
    : 0;
  const items = start < 0 ? [] : sorted.slice(start, start + page.limit);
  const last = items[items.length - 1];
  const more = start >= 0 && start + page.limit < sorted.length;
  return {
    items,
    total: sorted.length,
    next: more ? { at: at(last), id: last.id } : null,
  };
}
