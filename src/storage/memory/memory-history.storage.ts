import type { Page, PageRequest } from '../../common/page.js';
import type { Run, RunWithAttempts } from '../../domain/run.js';
import { HistoryStorage, type RunFilter, type SessionJson } from '../ports/history.storage.js';
import { byScheduledFor, type MemoryStore, pageOf } from './memory-store.js';
import { toSessionJson } from './stored-session.js';

export class MemoryHistoryStorage extends HistoryStorage {
  constructor(private readonly store: MemoryStore) {
    super();
  }

  async pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson> | null> {
    if (!this.store.ownSchedule(userId, scheduleId)) return null;
    const sessions = this.store.sessionsOf(userId, scheduleId);
    const { items, total, next } = page ? pageOf(sessions, page, (s) => s.createdAt) : { items: sessions, total: sessions.length, next: null };
    return { items: items.map(toSessionJson), total, next };
  }

  async listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]> {
    return this.store.runsOf(userId, scheduleId).map((r) => structuredClone(r));
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const { items, total, next } = pageOf(this.store.runsOf(userId, scheduleId), page, (r) => r.scheduledFor);
    return { items: items.map((r) => structuredClone(r)), total, next };
  }

  async pageRunsOfUser(userId: string, filter: RunFilter, page: PageRequest): Promise<Page<Run>> {
    const matching = [...this.store.runs.values()]
      .filter(
        (r) =>
          r.userId === userId &&
          (filter.scheduleId === undefined || r.scheduleId === filter.scheduleId) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.trigger === undefined || r.trigger === filter.trigger) &&
          (filter.since === undefined || r.scheduledFor >= filter.since),
      )
      .sort(byScheduledFor);
    const { items, total, next } = pageOf(matching, page, (r) => r.scheduledFor);
    return { items: items.map((r) => structuredClone(r)), total, next };
  }

  async getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null> {
    const run = this.store.runs.get(runId);
    if (!run || run.userId !== userId || run.scheduleId !== scheduleId) return null;
    const attempts = [...(this.store.attempts.get(runId) ?? [])].sort((a, b) => a.at.getTime() - b.at.getTime());
    return { run: structuredClone(run), attempts: structuredClone(attempts) };
  }
}
