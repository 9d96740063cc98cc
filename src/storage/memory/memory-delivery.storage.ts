import type { ClaimedDelivery, DeliveryRecord, DeliveryResult } from '../../domain/delivery.js';
import { timeoutAfter } from '../../domain/fire.js';
import {
  type DispatchAttempt,
  isActiveRunStatus,
  isFinalRunStatus,
  type RunUsage,
  type RuntimeRunStatus,
  runTransition,
} from '../../domain/run.js';
import type { ClaimedScheduleEvent, ScheduleEventResult } from '../../domain/schedule-event.js';
import type { Session, SessionState } from '../../domain/session.js';
import { DeliveryStorage, type OutboxBacklog, type RunCancelOutcome, type RunReportOutcome } from '../ports/delivery.storage.js';
import type { MemoryStore } from './memory-store.js';
import { stateWithoutContext } from '../session-context.js';
import { contextOf, fromStored, trimContext } from './stored-session.js';

export class MemoryDeliveryStorage extends DeliveryStorage {
  constructor(private readonly store: MemoryStore) {
    super();
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    const deliverable = [...this.store.outbox.values()]
      .filter((e) => e.availableAt && e.availableAt <= now && (!e.leaseUntil || e.leaseUntil <= now))
      .sort((a, b) => a.availableAt!.getTime() - b.availableAt!.getTime() || (a.runId < b.runId ? -1 : 1));
    const claimed: ClaimedDelivery[] = [];
    for (const entry of deliverable) {
      if (claimed.length >= limit) break;
      const run = this.store.runs.get(entry.runId);
      const schedule = this.store.schedules.get(entry.scheduleId);
      if (!run || !schedule || !isActiveRunStatus(run.status)) {
        // Nothing to deliver any more: the entry outlived its run's activity.
        this.store.outbox.delete(entry.runId);
        continue;
      }
      entry.leaseUntil = new Date(leaseUntil);
      const session = run.sessionId ? this.store.sessions.get(run.sessionId) : undefined;
      claimed.push({
        run: structuredClone(run),
        schedule: structuredClone(schedule),
        session: session ? fromStored(session) : null,
        attemptsMade: entry.attempts,
      });
    }
    return claimed;
  }

  async outboxBacklog(now: Date): Promise<OutboxBacklog> {
    let count = 0;
    let oldestAvailableAt: Date | null = null;
    for (const { availableAt, leaseUntil } of this.store.outbox.values()) {
      if (!availableAt || availableAt > now || (leaseUntil && leaseUntil > now)) continue;
      count++;
      if (!oldestAvailableAt || availableAt < oldestAvailableAt) oldestAvailableAt = availableAt;
    }
    return { count, oldestAvailableAt: oldestAvailableAt && new Date(oldestAvailableAt) };
  }

  async recordDeliveryAttempts(records: readonly DeliveryRecord[], now: Date): Promise<void> {
    for (const { attempt, result } of records) this.recordOne(attempt, result, now);
  }

  async reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date, usage: RunUsage | null = null): Promise<RunReportOutcome> {
    const run = this.store.runs.get(runId);
    if (!run) return { status: 'not-found' };
    const transition = runTransition(run.status, to);
    if (transition === 'noop') return { status: 'unchanged', run: structuredClone(run) };
    if (transition === 'illegal') return { status: 'illegal', run: structuredClone(run) };
    const kept = to === 'failed' ? error : null;
    if (isFinalRunStatus(to)) {
      this.store.endRun(run, to, kept, now, usage);
    } else {
      run.status = to;
      run.error = kept;
      // The runtime has the run: it is not delivered again; a message it kept (it was waiting) goes to its session.
      const entry = this.store.outbox.get(run.id);
      if (entry) this.store.appendKeptMessage(entry, now);
      this.store.outbox.delete(run.id);
      // A run that was waiting has no timeout yet: it gets one now, or it could stay active for ever.
      const schedule = this.store.schedules.get(run.scheduleId);
      if (!run.timeoutAt && schedule) run.timeoutAt = timeoutAfter(now, schedule.runTimeoutSeconds);
    }
    return { status: 'applied', run: structuredClone(run) };
  }

  async putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null> {
    const stored = this.store.sessions.get(sessionId);
    if (!stored) return null;
    // As toStored does: the messages apart, one text each.
    stored.state = stateWithoutContext(state);
    Object.assign(stored, contextOf(state.context.slice(-this.store.options.statefulSessionMaxMessages).map((message) => JSON.stringify(message))));
    trimContext(stored, this.store.contextBounds);
    stored.pageBytes = null;
    stored.updatedAt = new Date(now);
    return fromStored(stored);
  }

  async redriveRuns(userId: string, runIds: readonly string[], now: Date): Promise<Map<string, 'taken' | 'not-found' | 'not-given-up'>> {
    const outcomes = new Map<string, 'taken' | 'not-found' | 'not-given-up'>();
    for (const runId of new Set(runIds)) {
      const run = this.store.runs.get(runId);
      const schedule = run && this.store.schedules.get(run.scheduleId);
      if (!run || run.userId !== userId || !schedule) {
        outcomes.set(runId, 'not-found');
        continue;
      }
      if (run.status !== 'failed' || !run.gaveUp) {
        outcomes.set(runId, 'not-given-up');
        continue;
      }
      Object.assign(run, { status: 'pending', error: null, finishedAt: null, timeoutAt: timeoutAfter(now, schedule.runTimeoutSeconds), gaveUp: false });
      this.store.outbox.set(runId, { runId, scheduleId: run.scheduleId, availableAt: new Date(now), attempts: 0, leaseUntil: null, pendingMessage: null });
      this.store.handOff.ready();
      outcomes.set(runId, 'taken');
    }
    return outcomes;
  }

  async cancelRun(userId: string, scheduleId: string, runId: string, now: Date): Promise<RunCancelOutcome> {
    const run = this.store.runs.get(runId);
    if (!run || run.userId !== userId || run.scheduleId !== scheduleId || !this.store.schedules.has(scheduleId)) return { status: 'not-found' };
    if (isFinalRunStatus(run.status)) return { status: 'final', run: structuredClone(run) };
    this.store.cancelRun(run, now);
    return { status: 'cancelled', run: structuredClone(run) };
  }

  async claimScheduleEvents(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedScheduleEvent[]> {
    const due = [...this.store.events.values()]
      .filter((e) => e.availableAt <= now && (!e.leaseUntil || e.leaseUntil <= now))
      .sort((a, b) => a.availableAt.getTime() - b.availableAt.getTime() || (a.event.id < b.event.id ? -1 : 1));
    const claimed: ClaimedScheduleEvent[] = [];
    for (const stored of due) {
      if (claimed.length >= limit) break;
      const schedule = this.store.schedules.get(stored.event.scheduleId);
      if (!schedule) {
        this.store.events.delete(stored.event.id);
        continue;
      }
      stored.leaseUntil = new Date(leaseUntil);
      const run = stored.event.runId ? this.store.runs.get(stored.event.runId) : undefined;
      claimed.push({ event: structuredClone(stored.event), schedule: structuredClone(schedule), run: run ? structuredClone(run) : null, attemptsMade: stored.attempts });
    }
    return claimed;
  }

  async recordScheduleEventAttempts(results: readonly ScheduleEventResult[]): Promise<void> {
    for (const result of results) {
      const stored = this.store.events.get(result.eventId);
      if (!stored) continue;
      if (result.outcome !== 'retry') {
        this.store.events.delete(result.eventId);
        continue;
      }
      stored.availableAt = new Date(result.nextAttemptAt);
      stored.leaseUntil = null;
      stored.attempts++;
    }
  }

  private recordOne(attempt: DispatchAttempt, result: DeliveryResult, now: Date): void {
    const run = this.store.runs.get(attempt.runId);
    if (!run) {
      this.store.outbox.delete(attempt.runId);
      return;
    }
    const attempts = this.store.attempts.get(run.id) ?? [];
    attempts.push(structuredClone(attempt));
    this.store.attempts.set(run.id, attempts);
    switch (result.outcome) {
      case 'delivered':
        // The runtime may have reported on the run before its answer to the webhook came back.
        if (run.status === 'pending') run.status = 'dispatched';
        this.store.outbox.delete(run.id);
        return;
      case 'completed':
        if (isActiveRunStatus(run.status)) this.store.endRun(run, result.status, result.error, now, result.usage);
        this.store.outbox.delete(run.id);
        return;
      case 'retry': {
        const entry = this.store.outbox.get(run.id);
        if (!entry) return;
        entry.availableAt = new Date(result.nextAttemptAt);
        entry.leaseUntil = null;
        entry.attempts++;
        return;
      }
      case 'gave-up':
        if (isActiveRunStatus(run.status)) {
          this.store.endRun(run, 'failed', result.error, now);
          run.gaveUp = true;
        }
        this.store.outbox.delete(run.id);
        return;
    }
  }
}
