import type { Page, PageRequest } from '../../common/page.js';
import { type Schedule, type ScheduleFilter, scheduleMatches } from '../../domain/schedule.js';
import {
  type SchedulePutOutcome,
  ScheduleStorage,
  type ScheduleUpdateOutcome,
  updatedSchedule,
  versionMatches,
} from '../ports/schedule.storage.js';
import { byCreatedAt, type MemoryStore, pageOf } from './memory-store.js';

export class MemoryScheduleStorage extends ScheduleStorage {
  constructor(private readonly store: MemoryStore) {
    super();
  }

  async createSchedule(schedule: Schedule, maxPerUser = Infinity): Promise<boolean> {
    if (this.store.schedules.has(schedule.id)) throw new Error(`Schedule ${schedule.id} already exists`);
    let owned = 0;
    for (const s of this.store.schedules.values()) if (s.userId === schedule.userId) owned++;
    if (owned >= maxPerUser) return false;
    this.store.schedules.set(schedule.id, structuredClone(schedule));
    return true;
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const schedule = this.store.ownSchedule(userId, scheduleId);
    return schedule ? structuredClone(schedule) : null;
  }

  async hasSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.store.ownSchedule(userId, scheduleId) !== undefined;
  }

  async listSchedules(userId: string, filter: ScheduleFilter, page: PageRequest | null): Promise<Page<Schedule>> {
    const matches = [...this.store.schedules.values()].filter((s) => s.userId === userId && scheduleMatches(s, filter)).sort(byCreatedAt);
    const { items, total, next } = page ? pageOf(matches, page, (s) => s.createdAt) : { items: matches, total: matches.length, next: null };
    return { items: items.map((s) => structuredClone(s)), total, next };
  }

  async updateSchedule(
    userId: string,
    scheduleId: string,
    change: (current: Schedule) => Schedule,
    expectedVersion?: number | readonly number[],
  ): Promise<ScheduleUpdateOutcome> {
    const stored = this.store.ownSchedule(userId, scheduleId);
    if (!stored) return { status: 'not-found' };
    if (!versionMatches(stored.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: stored.version };
    const updated = updatedSchedule(stored, structuredClone(change(structuredClone(stored))));
    this.store.schedules.set(scheduleId, updated);
    return { status: 'updated', schedule: structuredClone(updated) };
  }

  async putScheduleByKey(
    userId: string,
    key: string,
    build: (current: Schedule | null) => Schedule,
    { expectedVersion, maxPerUser = Infinity }: { expectedVersion?: readonly number[]; maxPerUser?: number } = {},
  ): Promise<SchedulePutOutcome> {
    const stored = [...this.store.schedules.values()].find((s) => s.userId === userId && s.key === key);
    if (!stored) {
      if (expectedVersion !== undefined) return { status: 'version-mismatch', storedVersion: null };
      const schedule = structuredClone(build(null));
      if (!(await this.createSchedule(schedule, maxPerUser))) return { status: 'limit-reached' };
      return { status: 'created', schedule: structuredClone(schedule) };
    }
    if (!versionMatches(stored.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: stored.version };
    const current = structuredClone(stored);
    const built = build(current);
    if (built === current) return { status: 'unchanged', schedule: structuredClone(stored) };
    const updated = updatedSchedule(stored, structuredClone(built));
    this.store.schedules.set(stored.id, updated);
    return { status: 'replaced', schedule: structuredClone(updated) };
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    if (!this.store.ownSchedule(userId, scheduleId)) return false;
    for (const session of this.store.sessions.values()) {
      if (session.userId === userId && session.sourceScheduleId === scheduleId) this.store.sessions.delete(session.id);
    }
    for (const run of this.store.runs.values()) {
      if (run.scheduleId === scheduleId) this.store.deleteRun(run);
    }
    for (const stored of this.store.events.values()) {
      if (stored.event.scheduleId === scheduleId) this.store.events.delete(stored.event.id);
    }
    this.store.schedules.delete(scheduleId);
    return true;
  }
}
