import type { Run } from '../../domain/run.js';
import type { Schedule } from '../../domain/schedule.js';
import type { Session } from '../../domain/session.js';
import type { Page, PageRequest } from '../../common/page.js';
import { appendKeepingNewest, type ClaimOutcome, type DueFirePlan, type FireWrite } from '../../domain/fire.js';
import {
  DEFAULT_STORAGE_OPTIONS,
  type DueBacklog,
  type ScheduleUpdateOutcome,
  StorageBase,
  type StorageOptions,
  updatedSchedule,
  versionMatches,
} from '../storage.base.js';

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
export class MemoryStorage extends StorageBase {
  private readonly schedules = new Map<string, Schedule>();
  /** Sessions keep their documents (config, state) as JSON text, as a database would: reading one
   *  back is a JSON.parse, several times cheaper than a structured clone of a few kilobytes. The
   *  context's messages are kept apart, one text each, so that a stateful fire appends in place. */
  private readonly sessions = new Map<string, StoredSession>();
  private readonly runs = new Map<string, Run>();
  /** The unique constraint on scheduled runs: `${scheduleId} ${scheduledFor}`. */
  private readonly scheduledRunSlots = new Set<string>();

  constructor(private readonly options: StorageOptions = DEFAULT_STORAGE_OPTIONS) {
    super();
  }

  async createSchedule(schedule: Schedule, maxPerUser = Infinity): Promise<boolean> {
    if (this.schedules.has(schedule.id)) throw new Error(`Schedule ${schedule.id} already exists`);
    let owned = 0;
    for (const s of this.schedules.values()) if (s.userId === schedule.userId) owned++;
    if (owned >= maxPerUser) return false;
    this.schedules.set(schedule.id, structuredClone(schedule));
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
    return [...this.schedules.values()]
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
    this.schedules.set(scheduleId, updated);
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
    this.schedules.delete(scheduleId);
    return true;
  }

  async getSession(userId: string, sessionId: string): Promise<Session | null> {
    const session = this.sessions.get(sessionId);
    return session && session.userId === userId ? fromStored(session) : null;
  }

  async listSessionsBySchedule(userId: string, scheduleId: string): Promise<Session[]> {
    return this.sessionsOf(userId, scheduleId).map(fromStored);
  }

  async pageSessionsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Session>> {
    const { items, total, next } = pageOf(this.sessionsOf(userId, scheduleId), page, (s) => s.createdAt);
    return { items: items.map(fromStored), total, next };
  }

  async recordFire(fire: FireWrite): Promise<Session | null> {
    const { userId, sourceScheduleId } = fire.session;
    const schedule = sourceScheduleId ? this.ownSchedule(userId, sourceScheduleId) : undefined;
    if (!schedule) return null;
    return fromStored(this.writeFire(schedule, fire));
  }

  async claimDueSchedules(
    now: Date,
    limit: number,
    plan: (schedule: Schedule) => DueFirePlan,
  ): Promise<ClaimOutcome[]> {
    const due = [...this.schedules.values()]
      .filter((s) => s.nextRunAt && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    return due.map((schedule) => {
      const decided = plan(structuredClone(schedule));
      try {
        this.checkRunsAllowed([...(decided.fire ? [decided.fire.run] : []), ...decided.unfired]);
        if (decided.fire) this.writeFire(schedule, decided.fire);
        this.finishClaim(schedule, decided);
        return { scheduleId: schedule.id, status: 'fired' as const };
      } catch (error) {
        const message = (error as Error).message;
        const failed = decided.fire ? [{ ...decided.fire.run, sessionId: null, status: 'failed' as const, error: message }] : [];
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
    return [...this.runs.values()]
      .filter((r) => r.userId === userId && r.scheduleId === scheduleId)
      .sort(byScheduledFor)
      .map((r) => structuredClone(r));
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const all = [...this.runs.values()].filter((r) => r.userId === userId && r.scheduleId === scheduleId).sort(byScheduledFor);
    const { items, total, next } = pageOf(all, page, (r) => r.scheduledFor);
    return { items: items.map((r) => structuredClone(r)), total, next };
  }

  async listEnabledSchedulesWithoutNextRun(limit: number): Promise<Schedule[]> {
    return [...this.schedules.values()]
      .filter((s) => s.enabled && !s.nextRunAt)
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  async dueBacklog(now: Date): Promise<DueBacklog> {
    let count = 0;
    let oldestNextRunAt: Date | null = null;
    for (const { nextRunAt } of this.schedules.values()) {
      if (!nextRunAt || nextRunAt > now) continue;
      count++;
      if (!oldestNextRunAt || nextRunAt < oldestNextRunAt) oldestNextRunAt = nextRunAt;
    }
    return { count, oldestNextRunAt: oldestNextRunAt && new Date(oldestNextRunAt) };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  private sessionsOf(userId: string, scheduleId: string): StoredSession[] {
    return [...this.sessions.values()].filter((s) => s.userId === userId && s.sourceScheduleId === scheduleId).sort(byCreatedAt);
  }

  private ownSchedule(userId: string, scheduleId: string): Schedule | undefined {
    const schedule = this.schedules.get(scheduleId);
    return schedule?.userId === userId ? schedule : undefined;
  }

  /** Writes a fire (checking first that its run is allowed); returns the stored session, not copied. */
  private writeFire(schedule: Schedule, fire: FireWrite): StoredSession {
    const existing = this.sessions.get(fire.session.id);
    if (existing && !fire.stateful) throw new Error(`Session ${fire.session.id} already exists`);
    this.checkRunsAllowed([fire.run]);
    let stored: StoredSession;
    if (existing) {
      appendKeepingNewest(existing.context, JSON.stringify(fire.message), this.options.statefulSessionMaxMessages);
      existing.updatedAt = new Date(fire.firedAt);
      stored = existing;
    } else {
      stored = toStored(fire.session);
      this.sessions.set(stored.id, stored);
    }
    this.insertRun(fire.run);
    schedule.lastRunAt = new Date(fire.firedAt);
    return stored;
  }

  private finishClaim(schedule: Schedule, decided: DueFirePlan): void {
    decided.unfired.forEach((run) => this.insertRun(run));
    schedule.nextRunAt = decided.nextRunAt;
  }

  private checkRunsAllowed(runs: Run[]): void {
    const slots = runs.filter((r) => r.trigger !== 'manual').map(slotOf);
    if (slots.some((slot, i) => this.scheduledRunSlots.has(slot) || slots.indexOf(slot) !== i)) {
      throw new Error('a scheduled run for this schedule and time already exists');
    }
  }

  private insertRun(run: Run): void {
    this.runs.set(run.id, structuredClone(run));
    if (run.trigger !== 'manual') this.scheduledRunSlots.add(slotOf(run));
  }

  private deleteRun(run: Run): void {
    this.runs.delete(run.id);
    if (run.trigger !== 'manual') this.scheduledRunSlots.delete(slotOf(run));
  }
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
type StoredSession = Omit<Session, 'config' | 'state'> & { config: string; state: string; context: string[] };

function toStored(session: Session): StoredSession {
  return {
    ...session,
    createdAt: new Date(session.createdAt),
    updatedAt: new Date(session.updatedAt),
    config: JSON.stringify(session.config),
    state: JSON.stringify({ ...session.state, context: [] }),
    context: session.state.context.map((message) => JSON.stringify(message)),
  };
}

function fromStored(stored: StoredSession): Session {
  const { context, ...session } = stored;
  const state = JSON.parse(stored.state);
  state.context = context.map((message) => JSON.parse(message));
  return { ...session, createdAt: new Date(stored.createdAt), updatedAt: new Date(stored.updatedAt), config: JSON.parse(stored.config), state };
}

function slotOf(run: Run): string {
  return `${run.scheduleId} ${run.scheduledFor.toISOString()}`;
}
