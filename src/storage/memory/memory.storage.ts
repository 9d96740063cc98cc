import type { ClaimedDelivery, DeliveryResult } from '../../domain/delivery.js';
import {
  type DispatchAttempt,
  isActiveRunStatus,
  isFinalRunStatus,
  type Run,
  type RunStatus,
  type RunWithAttempts,
  type RuntimeRunStatus,
  runTransition,
} from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Session, SessionState } from '../../domain/session.js';
import type { Page, PageRequest } from '../../common/page.js';
import {
  appendKeepingNewest,
  type ClaimOutcome,
  type ContextBounds,
  type DecidedFire,
  decideFire,
  type DueFirePlan,
  type FireWrite,
  jsonTextBytes,
  keepNewestWithin,
  NO_ACTIVITY,
  keepsMessageUntilReleased,
  type ScheduleActivity,
  statefulSessionId,
  timeoutAfter,
} from '../../domain/fire.js';
import { DeliveryStorage, type RunReportOutcome } from '../ports/delivery.storage.js';
import { type DueBacklog, FiringStorage, type RecordFireOutcome } from '../ports/firing.storage.js';
import { HistoryStorage, type SessionJson } from '../ports/history.storage.js';
import { ScheduleStorage, type ScheduleUpdateOutcome, updatedSchedule, versionMatches } from '../ports/schedule.storage.js';
import { StorageLifecycle } from '../ports/storage-lifecycle.js';
import type { StorageBackend } from '../storage-backend.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';

/** Newest first: `at` descending, then id descending (byte order, as the SQL backends use). */
function newestFirst<T extends { id: string }>(at: (item: T) => Date) {
  return (a: T, b: T): number => {
    const byTime = at(b).getTime() - at(a).getTime();
    if (byTime !== 0) return byTime;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  };
}
const byCreatedAt = newestFirst<{ id: string; createdAt: Date }>((x) => x.createdAt);
const byScheduledFor = newestFirst<Run>((r) => r.scheduledFor);

/**
 * Keeps everything in process memory: for tests and throwaway runs; lost on restart. Each method
 * checks everything before it changes anything, and JavaScript runs it to the end without
 * interleaving, so each write is atomic.
 */
export class MemoryStorage
  implements StorageBackend, ScheduleStorage, HistoryStorage, FiringStorage, DeliveryStorage, StorageLifecycle
{
  readonly schedules: ScheduleStorage = this;
  readonly history: HistoryStorage = this;
  readonly firing: FiringStorage = this;
  readonly delivery: DeliveryStorage = this;
  readonly lifecycle: StorageLifecycle = this;

  private readonly scheduleRows = new Map<string, Schedule>();
  /** Sessions keep their documents (config, state) as JSON text, as a database would: reading one
   *  back is a JSON.parse, several times cheaper than a structured clone of a few kilobytes. The
   *  context's messages are kept apart, one text each, so that a stateful fire appends in place. */
  private readonly sessions = new Map<string, StoredSession>();
  private readonly runs = new Map<string, Run>();
  /** The unique constraint on scheduled runs: `${scheduleId} ${scheduledFor}`. */
  private readonly scheduledRunSlots = new Set<string>();
  /** Dispatched runs still to deliver, by run id. */
  private readonly outbox = new Map<string, OutboxEntry>();
  /** Each run's delivery attempts, oldest first, by run id. */
  private readonly attempts = new Map<string, DispatchAttempt[]>();

  private readonly contextBounds: ContextBounds;

  constructor(private readonly options: StorageOptions = DEFAULT_STORAGE_OPTIONS) {
    this.contextBounds = { maxMessages: options.statefulSessionMaxMessages, maxBytes: options.statefulSessionMaxBytes };
  }

  async createSchedule(schedule: Schedule, maxPerUser = Infinity): Promise<boolean> {
    if (this.scheduleRows.has(schedule.id)) throw new Error(`Schedule ${schedule.id} already exists`);
    let owned = 0;
    for (const s of this.scheduleRows.values()) if (s.userId === schedule.userId) owned++;
    if (owned >= maxPerUser) return false;
    this.scheduleRows.set(schedule.id, structuredClone(schedule));
    return true;
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const schedule = this.ownSchedule(userId, scheduleId);
    return schedule ? structuredClone(schedule) : null;
  }

  async hasSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.ownSchedule(userId, scheduleId) !== undefined;
  }

  async listSchedules(userId: string): Promise<Schedule[]> {
    return [...this.scheduleRows.values()]
      .filter((s) => s.userId === userId)
      .sort(byCreatedAt)
      .map((s) => structuredClone(s));
  }

  async updateSchedule(
    userId: string,
    scheduleId: string,
    change: (current: Schedule) => Schedule,
    expectedVersion?: number | readonly number[],
  ): Promise<ScheduleUpdateOutcome> {
    const stored = this.ownSchedule(userId, scheduleId);
    if (!stored) return { status: 'not-found' };
    if (!versionMatches(stored.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: stored.version };
    const updated = updatedSchedule(stored, structuredClone(change(structuredClone(stored))));
    this.scheduleRows.set(scheduleId, updated);
    return { status: 'updated', schedule: structuredClone(updated) };
  }

  async setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null> {
    const stored = this.ownSchedule(userId, scheduleId);
    if (!stored || !stored.enabled || stored.nextRunAt) return null;
    const nextRunAt = plan(structuredClone(stored));
    if (!nextRunAt) return null;
    stored.nextRunAt = new Date(nextRunAt);
    return new Date(nextRunAt);
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    if (!this.ownSchedule(userId, scheduleId)) return false;
    for (const session of this.sessions.values()) {
      if (session.userId === userId && session.sourceScheduleId === scheduleId) this.sessions.delete(session.id);
    }
    for (const run of this.runs.values()) {
      if (run.scheduleId === scheduleId) this.deleteRun(run);
    }
    this.scheduleRows.delete(scheduleId);
    return true;
  }

  async pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson>> {
    const sessions = this.sessionsOf(userId, scheduleId);
    const { items, total, next } = page ? pageOf(sessions, page, (s) => s.createdAt) : { items: sessions, total: sessions.length, next: null };
    return { items: items.map(toSessionJson), total, next };
  }

  async recordFire(fire: FireWrite): Promise<RecordFireOutcome> {
    const { userId, sourceScheduleId } = fire.session;
    const schedule = sourceScheduleId ? this.ownSchedule(userId, sourceScheduleId) : undefined;
    if (!schedule) return { status: 'not-found' };
    const decided = this.decide(schedule, fire);
    // A manual fire the policy skips is refused: nothing of it is recorded.
    if (decided.kind === 'skip') return { status: 'busy', blockingRunId: decided.blockingRunId };
    const session = this.writeFire(schedule, decided);
    return { status: 'fired', session: fromStored(session), run: structuredClone(decided.fire.run) };
  }

  async claimDueSchedules(
    now: Date,
    limit: number,
    plan: (schedule: Schedule) => DueFirePlan,
  ): Promise<ClaimOutcome[]> {
    const due = [...this.scheduleRows.values()]
      .filter((s) => s.nextRunAt && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    return due.map((schedule) => {
      const decided = plan(structuredClone(schedule));
      try {
        const fire = decided.fire && this.decide(schedule, decided.fire);
        // A skipped fire is recorded as its skipped run only; lastRunAt stays, nextRunAt advances.
        const runs = fire ? [fire.kind === 'skip' ? fire.run : fire.fire.run] : [];
        this.checkRunsAllowed([...runs, ...decided.unfired]);
        if (fire?.kind === 'skip') this.insertRun(fire.run);
        else if (fire) this.writeFire(schedule, fire);
        this.finishClaim(schedule, decided);
        return { scheduleId: schedule.id, status: 'fired' as const };
      } catch (error) {
        const message = (error as Error).message;
        const failed: Run[] = decided.fire
          ? [{ ...decided.fire.run, sessionId: null, status: 'failed', error: message, finishedAt: null, timeoutAt: null }]
          : [];
        try {
          this.checkRunsAllowed([...failed, ...decided.unfired]);
          failed.forEach((run) => this.insertRun(run));
          this.finishClaim(schedule, decided);
        } catch {
          schedule.nextRunAt = decided.nextRunAt;
        }
        return { scheduleId: schedule.id, status: 'failed' as const, error: message };
      }
    });
  }

  async listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]> {
    return this.runsOf(userId, scheduleId).map((r) => structuredClone(r));
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const { items, total, next } = pageOf(this.runsOf(userId, scheduleId), page, (r) => r.scheduledFor);
    return { items: items.map((r) => structuredClone(r)), total, next };
  }

  async getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null> {
    const run = this.runs.get(runId);
    if (!run || run.userId !== userId || run.scheduleId !== scheduleId) return null;
    const attempts = [...(this.attempts.get(runId) ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
    return { run: structuredClone(run), attempts: structuredClone(attempts) };
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    const deliverable = [...this.outbox.values()]
      .filter((e) => e.availableAt && e.availableAt <= now && (!e.leaseUntil || e.leaseUntil <= now))
      .sort((a, b) => a.availableAt!.getTime() - b.availableAt!.getTime() || (a.runId < b.runId ? -1 : 1));
    const claimed: ClaimedDelivery[] = [];
    for (const entry of deliverable) {
      if (claimed.length >= limit) break;
      const run = this.runs.get(entry.runId);
      const schedule = this.scheduleRows.get(entry.scheduleId);
      if (!run || !schedule || !isActiveRunStatus(run.status)) {
        // Nothing to deliver any more: the entry outlived its run's activity.
        this.outbox.delete(entry.runId);
        continue;
      }
      entry.leaseUntil = new Date(leaseUntil);
      const session = run.sessionId ? this.sessions.get(run.sessionId) : undefined;
      claimed.push({
        run: structuredClone(run),
        schedule: structuredClone(schedule),
        session: session ? fromStored(session) : null,
        attemptsMade: entry.attempts,
      });
    }
    return claimed;
  }

  async recordDeliveryAttempt(attempt: DispatchAttempt, result: DeliveryResult, now: Date): Promise<void> {
    const run = this.runs.get(attempt.runId);
    if (!run) return;
    const attempts = this.attempts.get(run.id) ?? [];
    attempts.push(structuredClone(attempt));
    this.attempts.set(run.id, attempts);
    switch (result.outcome) {
      case 'delivered':
        // The runtime may have reported on the run before its answer to the webhook came back.
        if (run.status === 'pending') run.status = 'dispatched';
        this.outbox.delete(run.id);
        return;
      case 'completed':
        if (isActiveRunStatus(run.status)) this.endRun(run, result.status, result.error, now);
        this.outbox.delete(run.id);
        return;
      case 'retry': {
        const entry = this.outbox.get(run.id);
        if (!entry) return;
        entry.availableAt = new Date(result.nextAttemptAt);
        entry.leaseUntil = null;
        entry.attempts++;
        return;
      }
      case 'gave-up':
        if (isActiveRunStatus(run.status)) this.endRun(run, 'failed', result.error, now);
        this.outbox.delete(run.id);
        return;
    }
  }

  async reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date): Promise<RunReportOutcome> {
    const run = this.runs.get(runId);
    if (!run) return { status: 'not-found' };
    const transition = runTransition(run.status, to);
    if (transition === 'noop') return { status: 'unchanged', run: structuredClone(run) };
    if (transition === 'illegal') return { status: 'illegal', run: structuredClone(run) };
    const kept = to === 'failed' ? error : null;
    if (isFinalRunStatus(to)) {
      this.endRun(run, to, kept, now);
    } else {
      run.status = to;
      run.error = kept;
      // The runtime has the run: it is not delivered again; a message it kept (it was waiting) goes to its session.
      const entry = this.outbox.get(run.id);
      if (entry) this.appendKeptMessage(entry, now);
      this.outbox.delete(run.id);
      // A run that was waiting has no timeout yet: it gets one now, or it could stay active for ever.
      const schedule = this.scheduleRows.get(run.scheduleId);
      if (!run.timeoutAt && schedule) run.timeoutAt = timeoutAfter(now, schedule.runTimeoutSeconds);
    }
    return { status: 'applied', run: structuredClone(run) };
  }

  async timeOutRuns(now: Date, limit: number): Promise<number> {
    const due = [...this.runs.values()]
      .filter((r) => isActiveRunStatus(r.status) && r.timeoutAt && r.timeoutAt <= now)
      .sort((a, b) => a.timeoutAt!.getTime() - b.timeoutAt!.getTime())
      .slice(0, limit);
    for (const run of due) {
      const seconds = this.scheduleRows.get(run.scheduleId)?.runTimeoutSeconds;
      this.endRun(run, 'timed_out', `timed out: no final status within the run timeout (${seconds} s)`, now);
    }
    return due.length;
  }

  async putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null> {
    const stored = this.sessions.get(sessionId);
    if (!stored) return null;
    // As toStored does: the messages apart, one text each.
    stored.state = JSON.stringify({ ...state, context: [] });
    stored.context = state.context.slice(-this.options.statefulSessionMaxMessages).map((message) => JSON.stringify(message));
    keepNewestWithin(stored.context, this.contextBounds, jsonTextBytes);
    stored.pageBytes = null;
    stored.updatedAt = new Date(now);
    return fromStored(stored);
  }

  async pruneHistory(limit: number): Promise<number> {
    let pruned = 0;
    for (const schedule of this.scheduleRows.values()) {
      if (schedule.historyLimit === null) continue;
      // Newest first: beyond the limit, the oldest go first.
      const sessions = this.sessionsOf(schedule.userId, schedule.id).slice(schedule.historyLimit).reverse();
      for (const session of sessions) {
        if (pruned >= limit) return pruned;
        // The one session a stateful schedule appends to is its conversation, not history.
        if (session.id === statefulSessionId(schedule.id)) continue;
        this.sessions.delete(session.id);
        pruned++;
      }
      const runs = this.runsOf(schedule.userId, schedule.id).slice(schedule.historyLimit).reverse();
      for (const run of runs) {
        if (pruned >= limit) return pruned;
        if (isActiveRunStatus(run.status)) continue;
        this.deleteRun(run);
        pruned++;
      }
    }
    return pruned;
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    return [...this.scheduleRows.values()]
      .filter((s) => s.enabled && !s.nextRunAt)
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  async dueBacklog(now: Date): Promise<DueBacklog> {
    let count = 0;
    let oldestNextRunAt: Date | null = null;
    for (const { nextRunAt } of this.scheduleRows.values()) {
      if (!nextRunAt || nextRunAt > now) continue;
      count++;
      if (!oldestNextRunAt || nextRunAt < oldestNextRunAt) oldestNextRunAt = nextRunAt;
    }
    return { count, oldestNextRunAt: oldestNextRunAt && new Date(oldestNextRunAt) };
  }

  async nextDueAt(): Promise<Date | null> {
    let earliest: Date | null = null;
    for (const { nextRunAt } of this.scheduleRows.values()) {
      if (nextRunAt && (!earliest || nextRunAt < earliest)) earliest = nextRunAt;
    }
    return earliest && new Date(earliest);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private sessionsOf(userId: string, scheduleId: string): StoredSession[] {
    return [...this.sessions.values()].filter((s) => s.userId === userId && s.sourceScheduleId === scheduleId).sort(byCreatedAt);
  }

  private runsOf(userId: string, scheduleId: string): Run[] {
    return [...this.runs.values()].filter((r) => r.userId === userId && r.scheduleId === scheduleId).sort(byScheduledFor);
  }

  private ownSchedule(userId: string, scheduleId: string): Schedule | undefined {
    const schedule = this.scheduleRows.get(scheduleId);
    return schedule?.userId === userId ? schedule : undefined;
  }

  /** The overlap policy applied to a fire of `schedule`, against the schedule's runs as they are now. */
  private decide(schedule: Schedule, fire: FireWrite): DecidedFire {
    return decideFire(fire, fire.dispatch ? this.activityOf(schedule.id, fire.firedAt) : NO_ACTIVITY);
  }

  /** The schedule's active and waiting runs at `at` (see ScheduleActivity). */
  private activityOf(scheduleId: string, at: Date): ScheduleActivity {
    const activity: ScheduleActivity = { activeRunId: null, waitingRunId: null };
    for (const run of this.runs.values()) {
      if (run.scheduleId !== scheduleId || !isActiveRunStatus(run.status)) continue;
      if (this.isWaiting(run)) activity.waitingRunId ??= run.id;
      // A run past its timeout no longer holds the schedule, even before timeOutRuns ends it.
      else if (!run.timeoutAt || run.timeoutAt > at) activity.activeRunId ??= run.id;
    }
    return activity;
  }

  /** Waiting under buffer_one: pending, with its outbox entry held. */
  private isWaiting(run: Run): boolean {
    return run.status === 'pending' && this.outbox.get(run.id)?.availableAt === null;
  }

  /**
   * Ends an active run: its final status, error and finishedAt; its outbox entry goes; and, the
   * schedule now free, its waiting run is released: deliverable now, timing out from now.
   */
  private endRun(run: Run, status: RunStatus, error: string | null, now: Date): void {
    run.status = status;
    run.error = error;
    run.finishedAt = new Date(now);
    this.outbox.delete(run.id);
    const schedule = this.scheduleRows.get(run.scheduleId);
    if (!schedule) return;
    for (const entry of this.outbox.values()) {
      if (entry.scheduleId !== run.scheduleId || entry.availableAt !== null) continue;
      entry.availableAt = new Date(now);
      this.runs.get(entry.runId)!.timeoutAt = timeoutAfter(now, schedule.runTimeoutSeconds);
      this.appendKeptMessage(entry, now);
    }
  }

  /**
   * Appends the message a waiting stateful fire kept with its outbox entry to its run's session
   * (as a fire appends, within the bound; `updatedAt` = `now`), and clears it from the entry.
   */
  private appendKeptMessage(entry: OutboxEntry, now: Date): void {
    if (entry.pendingMessage === null) return;
    const sessionId = this.runs.get(entry.runId)?.sessionId;
    const session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (session) {
      appendKeepingNewest(session.context, entry.pendingMessage, this.contextBounds, jsonTextBytes);
      session.pageBytes = null;
      session.updatedAt = new Date(now);
    }
    entry.pendingMessage = null;
  }

  /**
   * Writes a fire the policy let through (checking first that its run is allowed), with its
   * outbox entry when dispatched; returns the stored session, not copied. A waiting stateful fire
   * whose session exists keeps its message on its entry (see keepsMessageUntilReleased).
   */
  private writeFire(schedule: Schedule, decided: Exclude<DecidedFire, { kind: 'skip' }>): StoredSession {
    const { fire } = decided;
    const existing = this.sessions.get(fire.session.id);
    if (existing && !fire.stateful) throw new Error(`Session ${fire.session.id} already exists`);
    this.checkRunsAllowed([fire.run]);
    const keeps = existing !== undefined && keepsMessageUntilReleased(decided);
    let stored: StoredSession;
    if (existing) {
      if (!keeps) {
        appendKeepingNewest(existing.context, JSON.stringify(fire.message), this.contextBounds, jsonTextBytes);
        existing.pageBytes = null;
        existing.updatedAt = new Date(fire.firedAt);
      }
      stored = existing;
    } else {
      stored = toStored(fire.session);
      this.sessions.set(stored.id, stored);
    }
    this.insertRun(fire.run);
    if (decided.kind === 'dispatch') {
      this.outbox.set(fire.run.id, {
        runId: fire.run.id,
        scheduleId: schedule.id,
        availableAt: decided.outboxAvailableAt && new Date(decided.outboxAvailableAt),
        attempts: 0,
        leaseUntil: null,
        pendingMessage: keeps ? JSON.stringify(fire.message) : null,
      });
    }
    schedule.lastRunAt = new Date(fire.firedAt);
    return stored;
  }

  private finishClaim(schedule: Schedule, decided: DueFirePlan): void {
    decided.unfired.forEach((run) => this.insertRun(run));
    schedule.nextRunAt = decided.nextRunAt;
  }

  private checkRunsAllowed(runs: Run[]): void {
    // Run ids are keys, as the databases' primary key is.
    if (runs.some((r, i) => this.runs.has(r.id) || runs.findIndex((other) => other.id === r.id) !== i)) {
      throw new Error('a run with this id already exists');
    }
    const slots = runs.filter((r) => r.trigger !== 'manual').map(slotOf);
    if (slots.some((slot, i) => this.scheduledRunSlots.has(slot) || slots.indexOf(slot) !== i)) {
      throw new Error('a scheduled run for this schedule and time already exists');
    }
  }

  private insertRun(run: Run): void {
    this.runs.set(run.id, structuredClone(run));
    if (run.trigger !== 'manual') this.scheduledRunSlots.add(slotOf(run));
  }

  /** Deletes a run with what belongs to it: its outbox entry and delivery attempts. */
  private deleteRun(run: Run): void {
    this.runs.delete(run.id);
    this.outbox.delete(run.id);
    this.attempts.delete(run.id);
    if (run.trigger !== 'manual') this.scheduledRunSlots.delete(slotOf(run));
  }
}

/** A dispatched run's delivery: held (availableAt null) while the run waits its turn under buffer_one. */
interface OutboxEntry {
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

/** A page of a list sorted newest first by (at, id), starting after `page.after`; the items are not copied. */
function pageOf<T extends { id: string }>(sorted: T[], page: PageRequest, at: (item: T) => Date): Page<T> {
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

/** A stored session: `state` is the state without its messages (`context: []` holds their place), `context` the messages. */
type StoredSession = Omit<Session, 'config' | 'state'> & {
  config: string;
  state: string;
  context: string[];
  /**
   * The config's and the whole state's (withContext) text as UTF-8, kept from the first page read
   * after the last change (null since): a page reads every session's documents, far more often
   * than fires change one, and copies these bytes without encoding them again.
   */
  pageBytes: { config: Buffer; state: Buffer } | null;
};

function toStored(session: Session): StoredSession {
  return {
    ...session,
    createdAt: new Date(session.createdAt),
    updatedAt: new Date(session.updatedAt),
    config: JSON.stringify(session.config),
    state: JSON.stringify({ ...session.state, context: [] }),
    context: session.state.context.map((message) => JSON.stringify(message)),
    pageBytes: null,
  };
}

function fromStored(stored: StoredSession): Session {
  const { context, pageBytes, ...session } = stored;
  const state = JSON.parse(stored.state);
  state.context = context.map((message) => JSON.parse(message));
  return { ...session, createdAt: new Date(stored.createdAt), updatedAt: new Date(stored.updatedAt), config: JSON.parse(stored.config), state };
}

function toSessionJson(stored: StoredSession): SessionJson {
  stored.pageBytes ??= { config: Buffer.from(stored.config), state: Buffer.from(withContext(stored.state, stored.context)) };
  return {
    id: stored.id,
    userId: stored.userId,
    agentId: stored.agentId,
    source: stored.source,
    sourceScheduleId: stored.sourceScheduleId,
    teamId: stored.teamId,
    createdAt: new Date(stored.createdAt),
    updatedAt: new Date(stored.updatedAt),
    configJson: stored.pageBytes.config,
    stateJson: stored.pageBytes.state,
  };
}

const CONTEXT_SLOT = '"context":[]';

/**
 * A stored state's text with its messages put in the `"context":[]` it keeps for them, found
 * among the document's top-level keys (a nested `context` or a string that reads like one is
 * skipped): the text of what fromStored's `state` is, without parsing any of it.
 */
function withContext(state: string, context: string[]): string {
  let depth = 0;
  for (let i = 0; i < state.length; i++) {
    const c = state[i];
    if (c === '"') {
      if (depth === 1 && state.startsWith(CONTEXT_SLOT, i)) {
        const at = i + CONTEXT_SLOT.length - 1;
        return `${state.slice(0, at)}${context.join(',')}${state.slice(at)}`;
      }
      // To the string's closing quote: the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = state.indexOf('"', i + 1);
        let backslashes = 0;
        while (state[i - 1 - backslashes] === '\\') backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  throw new Error('a stored session state without its context');
}

function slotOf(run: Run): string {
  return `${run.scheduleId} ${run.scheduledFor.toISOString()}`;
}
