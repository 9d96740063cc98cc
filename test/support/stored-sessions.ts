import type { Page, PageRequest } from '../../src/common/page.js';
import type { Session } from '../../src/domain/session.js';
import type { HistoryStorage, SessionJson } from '../../src/storage/ports/history.storage.js';

// Tests read sessions back through the port the service reads them with (HistoryStorage's page
// of stored JSON text), parsed: no backend keeps a read path for tests only.

/** A session of HistoryStorage.pageSessionsJson with its documents parsed. */
export function parsedSession({ configJson, stateJson, ...session }: SessionJson): Session {
  return { ...session, config: JSON.parse(String(configJson)), state: JSON.parse(String(stateJson)) };
}

/** The schedule's sessions as stored, newest first: one page, or all of them without `page` (none of another user's schedule). */
export async function storedSessionPage(
  history: HistoryStorage,
  userId: string,
  scheduleId: string,
  page: PageRequest | null = null,
): Promise<Page<Session>> {
  const found = await history.pageSessionsJson(userId, scheduleId, page);
  if (!found) return { items: [], total: 0, next: null };
  return { items: found.items.map(parsedSession), total: found.total, next: found.next };
}

/** Every session of the user's schedule as stored, newest first. */
export async function storedSessions(history: HistoryStorage, userId: string, scheduleId: string): Promise<Session[]> {
  return (await storedSessionPage(history, userId, scheduleId)).items;
}

/** The session with this id among those of the user's schedule, as stored; null when it has none such. */
export async function storedSession(
  history: HistoryStorage,
  schedule: { userId: string; id: string },
  sessionId: string,
): Promise<Session | null> {
  return (await storedSessions(history, schedule.userId, schedule.id)).find((s) => s.id === sessionId) ?? null;
}
