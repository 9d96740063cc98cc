import type { Schedule } from '../../schedules/schedule.model';
import type { Session } from '../../sessions/session.model';
import { appendFireMessage, FireWrite, StorageBase } from '../storage.base';

/** Newest first: created_at descending, then id descending (byte order, as the SQL backends use). */
function newestFirst(a: { createdAt: Date; id: string }, b: { createdAt: Date; id: string }): number {
  const byTime = b.createdAt.getTime() - a.createdAt.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Keeps everything in process memory: for tests and throwaway runs. Lost on restart. */
export class MemoryStorage extends StorageBase {
  private readonly schedules = new Map<string, Schedule>();
  private readonly sessions = new Map<string, Session>();

  async createSchedule(schedule: Schedule): Promise<void> {
    if (this.schedules.has(schedule.id)) throw new Error(`Schedule ${schedule.id} already exists`);
    this.schedules.set(schedule.id, structuredClone(schedule));
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const schedule = this.ownSchedule(userId, scheduleId);
    return schedule ? structuredClone(schedule) : null;
  }

  async listSchedules(userId: string): Promise<Schedule[]> {
    return [...this.schedules.values()]
      .filter((s) => s.userId === userId)
      .sort(newestFirst)
      .map((s) => structuredClone(s));
  }

  async updateSchedule(schedule: Schedule): Promise<boolean> {
    if (!this.ownSchedule(schedule.userId, schedule.id)) return false;
    this.schedules.set(schedule.id, structuredClone(schedule));
    return true;
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    if (!this.ownSchedule(userId, scheduleId)) return false;
    for (const session of this.sessions.values()) {
      if (session.userId === userId && session.sourceScheduleId === scheduleId) this.sessions.delete(session.id);
    }
    this.schedules.delete(scheduleId);
    return true;
  }

  async getSession(userId: string, sessionId: string): Promise<Session | null> {
    const session = this.sessions.get(sessionId);
    return session && session.userId === userId ? structuredClone(session) : null;
  }

  async listSessionsBySchedule(userId: string, scheduleId: string): Promise<Session[]> {
    return [...this.sessions.values()]
      .filter((s) => s.userId === userId && s.sourceScheduleId === scheduleId)
      .sort(newestFirst)
      .map((s) => structuredClone(s));
  }

  async recordFire(fire: FireWrite): Promise<Session | null> {
    const { userId, sourceScheduleId } = fire.session;
    if (!sourceScheduleId || !this.ownSchedule(userId, sourceScheduleId)) return null;
    const existing = this.sessions.get(fire.session.id);
    if (existing && !fire.stateful) throw new Error(`Session ${fire.session.id} already exists`);
    const stored = existing ? appendFireMessage(existing, fire) : structuredClone(fire.session);
    this.sessions.set(stored.id, stored);
    return structuredClone(stored);
  }

  async close(): Promise<void> {}

  private ownSchedule(userId: string, scheduleId: string): Schedule | undefined {
    const schedule = this.schedules.get(scheduleId);
    return schedule?.userId === userId ? schedule : undefined;
  }
}
