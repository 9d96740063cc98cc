import {
  type ClaimOutcome,
  type DecidedFire,
  decideFire,
  type DueFirePlan,
  failedFireRun,
  type FireWrite,
  keepsMessageUntilReleased,
  NO_ACTIVITY,
  type ScheduleActivity,
  statefulSessionId,
  timedOutError,
} from '../../domain/fire.js';
import { isActiveRunStatus, type Run, takesFireTime } from '../../domain/run.js';
import { doneAfterClaim, doneAs, MAX_RUNS_REACHED, maxRunsReached, type Schedule } from '../../domain/schedule.js';
import { scheduleEvent } from '../../domain/schedule-event.js';
import { afterFireTime, budgetBlocksUntil } from '../../domain/schedule-stats.js';
import type { HandOffReservation } from '../dispatch-hand-off.js';
import { type DueBacklog, FiringStorage, type RecordFireOutcome } from '../ports/firing.storage.js';
import { type MemoryStore, slotOf } from './memory-store.js';
import { appendMessage, type StoredSession, toStored } from './stored-session.js';

export class MemoryFiringStorage extends FiringStorage {
  constructor(private readonly store: MemoryStore) {
    super();
  }

  async recordFire(fire: FireWrite): Promise<RecordFireOutcome> {
    const { userId, sourceScheduleId } = fire.session;
    const schedule = sourceScheduleId ? this.store.ownSchedule(userId, sourceScheduleId) : undefined;
    if (!schedule) return { status: 'not-found' };
    if (takesFireTime(fire.run.trigger) && this.store.scheduledRunSlots.has(slotOf(fire.run))) return { status: 'taken' };
    const decided = this.decide(schedule, fire);
    // A manual fire the policy or the budget skips is refused: nothing of it is recorded.
    if (decided.kind === 'skip') {
      return decided.budgetResetsAt ? { status: 'budget-exhausted', resetsAt: decided.budgetResetsAt } : { status: 'busy', blockingRunId: decided.blockingRunId! };
    }
    const handing = this.handing(decided, fire.firedAt);
    try {
      const session = this.writeFire(schedule, decided, handing.reservation?.leaseUntil ?? null);
      handing.settle(schedule);
      return { status: 'fired', sessionId: session.id, run: structuredClone(decided.fire.run) };
    } catch (error) {
      handing.reservation?.cancel();
      throw error;
    }
  }

  async takenFireTimes(userId: string, scheduleId: string, times: readonly Date[]): Promise<Set<number>> {
    if (!this.store.ownSchedule(userId, scheduleId)) return new Set();
    return new Set(times.filter((at) => this.store.scheduledRunSlots.has(slotOf({ scheduleId, scheduledFor: at }))).map((at) => at.getTime()));
  }

  async claimDueSchedules(now: Date, limit: number, plan: (schedule: Schedule) => DueFirePlan): Promise<ClaimOutcome[]> {
    const due = [...this.store.schedules.values()]
      .filter((s) => s.nextRunAt && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    return due.map((schedule) => {
      const decided = plan(structuredClone(schedule));
      let handing: Handing | undefined;
      try {
        const fire = decided.fire && this.decide(schedule, decided.fire);
        // A skipped fire is recorded as its skipped run only; lastRunAt stays, nextRunAt advances.
        const runs = fire ? [fire.kind === 'skip' ? fire.run : fire.fire.run] : [];
        this.store.checkRunsAllowed([...runs, ...decided.unfired]);
        if (fire?.kind === 'skip') {
          this.store.insertRun(fire.run);
          this.keepBooks(schedule, [fire.run], null, now);
        } else if (fire) {
          handing = this.handing(fire, now);
          this.writeFire(schedule, fire, handing.reservation?.leaseUntil ?? null);
        }
        this.finishClaim(schedule, decided, now);
        handing?.settle(schedule);
        const skipReason = fire?.kind === 'skip' ? fire.run.skipReason : null;
        return { scheduleId: schedule.id, status: 'fired' as const, ...(skipReason ? { skipReason } : {}) };
      } catch (error) {
        handing?.reservation?.cancel();
        const message = (error as Error).message;
        const failed = decided.fire ? [failedFireRun(decided.fire.run, message)] : [];
        try {
          this.store.checkRunsAllowed([...failed, ...decided.unfired]);
          failed.forEach((run) => this.store.insertRun(run));
          this.keepBooks(schedule, failed, null, now);
          this.finishClaim(schedule, decided, now);
        } catch {
          schedule.nextRunAt = decided.nextRunAt;
        }
        return { scheduleId: schedule.id, status: 'failed' as const, error: message };
      }
    });
  }

  async nextDueAt(): Promise<Date | null> {
    let earliest: Date | null = null;
    for (const { nextRunAt } of this.store.schedules.values()) {
      if (nextRunAt && (!earliest || nextRunAt < earliest)) earliest = nextRunAt;
    }
    return earliest && new Date(earliest);
  }

  async dueBacklog(now: Date): Promise<DueBacklog> {
    let count = 0;
    let oldestNextRunAt: Date | null = null;
    for (const { nextRunAt } of this.store.schedules.values()) {
      if (!nextRunAt || nextRunAt > now) continue;
      count++;
      if (!oldestNextRunAt || nextRunAt < oldestNextRunAt) oldestNextRunAt = nextRunAt;
    }
    return { count, oldestNextRunAt: oldestNextRunAt && new Date(oldestNextRunAt) };
  }

  async timeOutRuns(now: Date, limit: number): Promise<number> {
    const due = [...this.store.runs.values()]
      .filter((r) => isActiveRunStatus(r.status) && r.timeoutAt && r.timeoutAt <= now)
      .sort((a, b) => a.timeoutAt!.getTime() - b.timeoutAt!.getTime())
      .slice(0, limit);
    for (const run of due) {
      const seconds = this.store.schedules.get(run.scheduleId)?.runTimeoutSeconds;
      this.store.endRun(run, 'timed_out', timedOutError(seconds ?? 0), now);
    }
    return due.length;
  }

  async pruneHistory(limit: number): Promise<number> {
    let pruned = 0;
    for (const schedule of this.store.schedules.values()) {
      if (schedule.historyLimit === null) continue;
      // Newest first: beyond the limit, the oldest go first.
      const sessions = this.store.sessionsOf(schedule.userId, schedule.id).slice(schedule.historyLimit).reverse();
      for (const session of sessions) {
        if (pruned >= limit) return pruned;
        // The one session a stateful schedule appends to is its conversation, not history.
        if (session.id === statefulSessionId(schedule.id)) continue;
        this.store.sessions.delete(session.id);
        pruned++;
      }
      const runs = this.store.runsOf(schedule.userId, schedule.id).slice(schedule.historyLimit).reverse();
      for (const run of runs) {
        if (pruned >= limit) return pruned;
        if (isActiveRunStatus(run.status)) continue;
        this.store.deleteRun(run);
        pruned++;
      }
    }
    return pruned;
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    return [...this.store.schedules.values()]
      .filter((s) => s.enabled && !s.nextRunAt)
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  async setMissingNextRun(userId: string, scheduleId: string, plan: (schedule: Schedule) => Date | null): Promise<Date | null> {
    const stored = this.store.ownSchedule(userId, scheduleId);
    if (!stored || !stored.enabled || stored.nextRunAt) return null;
    const nextRunAt = plan(structuredClone(stored));
    if (!nextRunAt) return null;
    stored.nextRunAt = new Date(nextRunAt);
    return new Date(nextRunAt);
  }

  /**
   * How a fire the policy let through reaches the dispatcher (see DispatchHandOff): a slot reserved
   * for a dispatched, deliverable, stateless fire (a stateful one's session would have to be read
   * whole for the webhook: it is left to the dispatcher's claim); `settle`, once written, hands it
   * over, or wakes the dispatcher for an entry it could not take.
   */
  private handing(decided: Exclude<DecidedFire, { kind: 'skip' }>, now: Date): Handing {
    const deliverable = decided.kind === 'dispatch' && decided.outboxAvailableAt !== null;
    const reservation = deliverable && !decided.fire.stateful ? this.store.handOff.reserve(1, now) : null;
    return {
      reservation: reservation && reservation.count > 0 ? reservation : null,
      settle: (schedule) => {
        if (reservation && reservation.count > 0) {
          const { run, session } = decided.fire;
          reservation.settle([{ run: structuredClone(run), schedule: structuredClone(schedule), session: structuredClone(session), attemptsMade: 0 }]);
        } else if (deliverable) {
          this.store.handOff.ready();
        }
      },
    };
  }

  /** The budget and the overlap policy applied to a fire of `schedule`, against the schedule's runs as they are now. */
  private decide(schedule: Schedule, fire: FireWrite): DecidedFire {
    return decideFire(fire, fire.dispatch ? this.activityOf(schedule.id, fire.firedAt) : NO_ACTIVITY, budgetBlocksUntil(schedule, fire.run.scheduledFor));
  }

  /** The schedule's stats and budget after runs written for a fire time (see afterFireTime), with the event of a budget it exhausted. */
  private keepBooks(schedule: Schedule, runs: readonly Run[], fired: { at: Date } | null, now: Date): void {
    const { stats, budgetExhaustedUntil, exhaustedNow } = afterFireTime(schedule, runs, fired);
    Object.assign(schedule, { stats, budgetExhaustedUntil });
    if (exhaustedNow) this.store.addEvents([scheduleEvent(schedule, 'schedule.budget_exhausted', now, budgetExhaustedUntil)]);
  }

  /** The schedule's active and waiting runs at `at` (see ScheduleActivity). */
  private activityOf(scheduleId: string, at: Date): ScheduleActivity {
    const activity: ScheduleActivity = { activeRunId: null, waitingRunId: null };
    for (const run of this.store.runs.values()) {
      if (run.scheduleId !== scheduleId || !isActiveRunStatus(run.status)) continue;
      if (this.isWaiting(run)) activity.waitingRunId ??= run.id;
      // A run past its timeout no longer holds the schedule, even before timeOutRuns ends it.
      else if (!run.timeoutAt || run.timeoutAt > at) activity.activeRunId ??= run.id;
    }
    return activity;
  }

  /** Waiting under buffer_one: pending, with its outbox entry held. */
  private isWaiting(run: Run): boolean {
    return run.status === 'pending' && this.store.outbox.get(run.id)?.availableAt === null;
  }

  /**
   * Writes a fire the policy let through (checking first that its run is allowed), with its
   * outbox entry when dispatched (leased until `leaseUntil` to the dispatcher it is handed to, if
   * any); returns the stored session, not copied. A waiting stateful fire whose session exists
   * keeps its message on its entry (see keepsMessageUntilReleased).
   */
  private writeFire(schedule: Schedule, decided: Exclude<DecidedFire, { kind: 'skip' }>, leaseUntil: Date | null): StoredSession {
    const { fire } = decided;
    const existing = this.store.sessions.get(fire.session.id);
    if (existing && !fire.stateful) throw new Error(`Session ${fire.session.id} already exists`);
    this.store.checkRunsAllowed([fire.run]);
    // `replace`: the runs in the way are cancelled first.
    for (const runId of decided.kind === 'dispatch' ? (decided.replaces ?? []) : []) {
      const replaced = this.store.runs.get(runId);
      if (replaced && isActiveRunStatus(replaced.status)) this.store.cancelRun(replaced, fire.firedAt);
    }
    const keeps = existing !== undefined && keepsMessageUntilReleased(decided);
    let stored: StoredSession;
    if (existing) {
      if (!keeps) {
        appendMessage(existing, JSON.stringify(fire.message), this.store.contextBounds);
        existing.pageBytes = null;
        existing.updatedAt = new Date(fire.firedAt);
      }
      stored = existing;
    } else {
      stored = toStored(fire.session);
      this.store.sessions.set(stored.id, stored);
    }
    this.store.insertRun(fire.run);
    if (decided.kind === 'dispatch') {
      this.store.outbox.set(fire.run.id, {
        runId: fire.run.id,
        scheduleId: schedule.id,
        availableAt: decided.outboxAvailableAt && new Date(decided.outboxAvailableAt),
        attempts: 0,
        leaseUntil: leaseUntil && new Date(leaseUntil),
        pendingMessage: keeps ? JSON.stringify(fire.message) : null,
      });
    }
    schedule.lastRunAt = new Date(fire.firedAt);
    this.keepBooks(schedule, [fire.run], { at: fire.run.scheduledFor }, fire.firedAt);
    // One fire more; its max_runs-th makes the schedule done.
    schedule.fireCount++;
    if (maxRunsReached(schedule)) {
      Object.assign(schedule, MAX_RUNS_REACHED);
      schedule.version++;
      schedule.updatedAt = new Date(fire.firedAt);
      this.store.addEvents([scheduleEvent(schedule, 'schedule.completed', fire.firedAt)]);
    }
    return stored;
  }

  private finishClaim(schedule: Schedule, decided: DueFirePlan, now: Date): void {
    decided.unfired.forEach((run) => this.store.insertRun(run));
    this.keepBooks(schedule, decided.unfired, null, now);
    // A schedule its fire made done (max_runs) has no next fire; a one-off whose time has passed is done.
    schedule.nextRunAt = schedule.enabled ? decided.nextRunAt : null;
    if (decided.skippedFireTimes) schedule.skippedFireTimes = decided.skippedFireTimes.map((d) => new Date(d));
    if (schedule.enabled && doneAfterClaim(schedule, false, decided.nextRunAt) === 'completed') {
      Object.assign(schedule, doneAs('completed'));
      schedule.version++;
      schedule.updatedAt = new Date(now);
      this.store.addEvents([scheduleEvent(schedule, 'schedule.completed', now)]);
    }
  }
}

/** A fire on its way to the dispatcher (see MemoryFiringStorage.handing). */
interface Handing {
  reservation: HandOffReservation | null;
  /** Once the fire is written: hands it over (the schedule as it is now goes in the webhook), or wakes the dispatcher. */
  settle(schedule: Schedule): void;
}
