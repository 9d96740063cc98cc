import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { describe, it } from '@jest/globals';
import { encodeCursor } from '../../../src/common/cursor.js';
import type { KeysetPosition, Page } from '../../../src/common/page.js';
import { fireWrite } from '../../../src/domain/fire.js';
import type { Schedule } from '../../../src/domain/schedule.js';
import type { Session } from '../../../src/domain/session.js';
import { scheduleSessionsJson } from '../../../src/sessions/dto/session-json.response.js';
import { toSessionResponse } from '../../../src/wire/session.response.js';
import type { SessionJson } from '../../../src/storage/ports/history.storage.js';
import { aSchedule } from '../../support/builders.js';
import { storedSessionPage, storedSessions } from '../../support/stored-sessions.js';
import { type ContractContext, SECOND } from './contract-context.js';

/** HistoryStorage: a schedule's sessions and runs, whole and by keyset page. */
export function historyContract({ storage, newUser, fire, firedSession, created }: ContractContext): void {
  describe('pages', () => {
    async function scheduleWithHistory(count: number) {
      const schedule = aSchedule({ userId: newUser() });
      await storage.schedules.createSchedule(schedule);
      const t = Date.parse('2026-08-01T09:00:00.000Z');
      // Pairs of equal timestamps, so page boundaries fall between ties too.
      const sessions: Session[] = [];
      for (let i = 0; i < count; i++) sessions.push(await firedSession(fireWrite(schedule, new Date(t + Math.floor(i / 2) * 1000))));
      // The list's order: newest first, ties by id descending.
      sessions.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
      return { ...schedule, sessions };
    }

    for (const [count, limit] of [[7, 3], [6, 3], [2, 5], [0, 2]]) {
      it(`walks ${count} sessions and their runs in pages of ${limit}, in list order`, async () => {
        const schedule = await scheduleWithHistory(count);
        const walk = async <T extends { id: string }>(
          page: (after?: KeysetPosition) => Promise<{ items: T[]; total: number; next: KeysetPosition | null }>,
        ) => {
          const seen: string[] = [];
          let after: KeysetPosition | undefined;
          for (let pages = 0; ; pages++) {
            const result = await page(after);
            assert.equal(result.total, count);
            assert.ok(result.items.length <= limit);
            seen.push(...result.items.map((x) => x.id));
            if (!result.next) break;
            assert.equal(result.items.length, limit);
            after = result.next;
            assert.ok(pages < count, 'pages never end');
          }
          return seen;
        };
        const sessions = await walk((after) => storedSessionPage(storage.history, schedule.userId, schedule.id, { limit, after }));
        assert.deepEqual(sessions, schedule.sessions.map((s) => s.id));
        assert.deepEqual(sessions, (await storedSessions(storage.history, schedule.userId, schedule.id)).map((s) => s.id));
        const runs = await walk((after) => storage.history.pageRunsBySchedule(schedule.userId, schedule.id, { limit, after }));
        assert.deepEqual(runs, (await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).map((r) => r.id));
      });
    }

    it('returns whole records and scopes pages to the user', async () => {
      const schedule = await scheduleWithHistory(3);
      const page = await storedSessionPage(storage.history, schedule.userId, schedule.id, { limit: 2 });
      assert.deepEqual(page.items, schedule.sessions.slice(0, 2));
      assert.deepEqual(page.next, { at: page.items[1].createdAt, id: page.items[1].id });
      assert.equal(await storage.history.pageSessionsJson(newUser(), schedule.id, { limit: 2 }), null);
      assert.deepEqual(await storage.history.pageRunsBySchedule(newUser(), schedule.id, { limit: 2 }), { items: [], total: 0, next: null });
    });
  });

  describe('sessions as JSON text', () => {
    // pageSessionsJson's texts, spliced into the sessions page, must read as the sessions as
    // written, serialised by JSON.stringify. Compared as parsed and re-serialised (values and
    // key order): a stateful session's state, once PostgreSQL has appended to it, is jsonb's
    // text, with spaces JSON.stringify does not write. Documents as written are kept as they
    // are, byte for byte (see `bytes` below).
    const bytes = (page: Page<SessionJson>, paged: boolean) => scheduleSessionsJson(page, paged).toString('utf8');
    const spliced = (page: Page<SessionJson>, paged: boolean) => JSON.stringify(JSON.parse(bytes(page, paged)));
    const serialised = (page: Page<Session>, paged: boolean) =>
      JSON.stringify({
        sessions: page.items.map(toSessionResponse),
        total: page.total,
        ...(paged ? { next_cursor: page.next && encodeCursor(page.next) } : {}),
      });

    /** A schedule fired `count` times, with the sessions the fires wrote in the list's order. */
    async function firedSchedule(count: number, overrides: Partial<Schedule> = {}) {
      const schedule = aSchedule({ userId: newUser(), ...overrides });
      await storage.schedules.createSchedule(schedule);
      const t = Date.parse('2026-08-02T09:00:00.000Z');
      const sessions: Session[] = [];
      for (let i = 0; i < count; i++) sessions.push(await firedSession(fireWrite(schedule, new Date(t + Math.floor(i / 2) * SECOND))));
      sessions.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
      return { ...schedule, sessions };
    }

    for (const [count, limit] of [[7, 3], [2, 5], [0, 2]]) {
      it(`reads as the sessions written, page by page and whole (${count} sessions, pages of ${limit})`, async () => {
        const { userId, id, sessions } = await firedSchedule(count);
        let after: KeysetPosition | undefined;
        let position = 0;
        for (let pages = 0; pages <= count; pages++) {
          const json = (await storage.history.pageSessionsJson(userId, id, { limit, after }))!;
          const items = sessions.slice(position, position + limit);
          position += items.length;
          const last = items.at(-1);
          const expected = { items, total: count, next: position < count && last ? { at: last.createdAt, id: last.id } : null };
          assert.equal(spliced(json, true), serialised(expected, true));
          assert.equal(bytes(json, true), serialised(expected, true), 'the stored text of documents written once, byte for byte');
          assert.deepEqual(json.next, expected.next);
          if (!json.next) break;
          after = json.next;
        }
        assert.equal(position, count);
        const all = (await storage.history.pageSessionsJson(userId, id, null))!;
        assert.equal(all.next, null);
        assert.equal(spliced(all, false), serialised({ items: sessions, total: count, next: null }, false));
      });
    }

    it('keeps appended messages and awkward text in their places', async () => {
      const schedule = await firedSchedule(1);
      const [plain] = schedule.sessions;
      const t = Date.parse('2026-08-03T09:00:00.000Z');
      let stateful: Session | undefined;
      for (let i = 0; i < 3; i++) stateful = await firedSession(fireWrite({ ...schedule, stateful: true }, new Date(t + i * SECOND)));
      const awkward = '"context":[] } ] \\ \" \u2028 ünï 🚀 </script>';
      const state = structuredClone(plain.state);
      state.summary = awkward;
      state.context.push({ ...state.context[0], id: 'awkward', metadata: { context: [], [awkward]: { '"context":[]': [awkward] } } });
      const written = await storage.delivery.putSessionState(plain.id, state, new Date(t + 10 * SECOND));
      // Newest first: the stateful session was created after the plain one.
      const expected = [stateful!, written!];
      for (const paged of [true, false]) {
        const json = (await storage.history.pageSessionsJson(schedule.userId, schedule.id, paged ? { limit: 5 } : null))!;
        assert.equal(spliced(json, paged), serialised({ items: expected, total: 2, next: null }, paged));
      }
      assert.equal(stateful!.state.context.length, 3);
      const read = (await storage.history.pageSessionsJson(schedule.userId, schedule.id, null))!.items.find((s) => s.id === plain.id)!;
      assert.deepEqual(JSON.parse(String(read.stateJson)), state);
    });

    it('scopes them to the user', async () => {
      const schedule = await firedSchedule(2);
      assert.equal(await storage.history.pageSessionsJson(newUser(), schedule.id, { limit: 2 }), null);
      assert.equal(await storage.history.pageSessionsJson(newUser(), schedule.id, null), null);
    });
  });

  describe('getRun', () => {
    it('returns the user’s run of the schedule, with its attempts', async () => {
      const schedule = await created({});
      const write = fireWrite(schedule, new Date('2026-05-11T09:00:00.000Z'));
      await fire(write);
      assert.deepEqual(await storage.history.getRun(schedule.userId, schedule.id, write.run.id), { run: write.run, attempts: [] });
    });

    it('scopes the run to its user and schedule', async () => {
      const schedule = await created({});
      const sibling = await created({ userId: schedule.userId });
      const write = fireWrite(schedule, new Date('2026-05-11T09:00:00.000Z'));
      await fire(write);
      assert.equal(await storage.history.getRun(newUser(), schedule.id, write.run.id), null);
      assert.equal(await storage.history.getRun(schedule.userId, sibling.id, write.run.id), null);
      assert.equal(await storage.history.getRun(schedule.userId, schedule.id, uuidv7()), null);
    });
  });

  describe("a user's runs across schedules", () => {
    it('lists them newest first by page, filtered by schedule, status, trigger and since, and never another user\'s', async () => {
      const userId = newUser();
      const [a, b] = [aSchedule({ userId }), aSchedule({ userId })];
      for (const s of [a, b]) await storage.schedules.createSchedule(s);
      const at = (minute: number) => new Date(Date.UTC(2026, 8, 1, 9, minute));
      const runs = [
        (await fire(fireWrite(a, at(0), 'manual'))).run,
        (await fire(fireWrite(b, at(1), 'cron', at(1)))).run,
        (await fire(fireWrite(a, at(2), 'cron', at(2)))).run,
      ];
      const other = aSchedule({ userId: newUser() });
      await storage.schedules.createSchedule(other);
      await fire(fireWrite(other, at(3), 'manual'));
      const ids = async (filter: Parameters<typeof storage.history.pageRunsOfUser>[1]) =>
        (await storage.history.pageRunsOfUser(userId, filter, { limit: 10 })).items.map((r) => r.id);
      assert.deepEqual(await ids({}), [runs[2].id, runs[1].id, runs[0].id]);
      assert.deepEqual(await ids({ scheduleId: a.id }), [runs[2].id, runs[0].id]);
      assert.deepEqual(await ids({ trigger: 'cron' }), [runs[2].id, runs[1].id]);
      assert.deepEqual(await ids({ status: 'succeeded', since: at(1) }), [runs[2].id, runs[1].id]);
      assert.deepEqual(await ids({ status: 'failed' }), []);
      const first = await storage.history.pageRunsOfUser(userId, {}, { limit: 2 });
      assert.deepEqual([first.items.map((r) => r.id), first.total], [[runs[2].id, runs[1].id], 3]);
      const rest = await storage.history.pageRunsOfUser(userId, {}, { limit: 2, after: first.next! });
      assert.deepEqual([rest.items.map((r) => r.id), rest.next], [[runs[0].id], null]);
    });
  });
}
