import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { aSchedule } from './support/builders.js';
import { encodeCursor } from '../src/common/cursor.js';
import type { KeysetPosition, Page } from '../src/common/page.js';
import type { DeliveryResult } from '../src/domain/delivery.js';
import { type DueFirePlan, type FireWrite, fireWrite, statefulSessionId, unfiredRun } from '../src/domain/fire.js';
import type { DispatchAttempt, Run } from '../src/domain/run.js';
import type { Schedule } from '../src/domain/schedule.js';
import type { Message, Session } from '../src/domain/session.js';
import { ValidationFailed } from '../src/common/domain-errors.js';
import type { SessionJson } from '../src/storage/ports/history.storage.js';
import type { StorageBackend } from '../src/storage/storage-backend.js';
import type { StorageOptions } from '../src/storage/storage-options.js';
import { storedSession, storedSessionPage, storedSessions } from './support/stored-sessions.js';
import { scheduleSessionsJson } from '../src/sessions/dto/session-json.response.js';
import { toSessionResponse } from '../src/sessions/dto/session.response.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** `ms` after `base`. */
const at = (base: number | Date, ms = 0) => new Date(+base + ms);

export interface OpenedStorage {
  storage: StorageBackend;
  dispose(): Promise<void>;
}

/** The bound on a stateful session's messages the contract's storage is opened with: small, so that tests reach it. */
export const CONTRACT_SESSION_MAX_MESSAGES = 10;
/** The bound on a stateful session's bytes of messages the contract's storage is opened with: a few large messages reach it. */
export const CONTRACT_SESSION_MAX_BYTES = 16_384;

/** Messages' size as the byte bound counts them in compact JSON (memory, SQLite): their JSON text in UTF-8. */
const compactBytes = (messages: readonly Message[]) => messages.reduce((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0);

/** The same as PostgreSQL's jsonb prints them, a space after each ':' and ',' (its measure runs this much higher). */
const jsonbBytes = (messages: readonly Message[]) => messages.reduce((sum, m) => sum + Buffer.byteLength(jsonbText(m)), 0);

function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, v]) => `${JSON.stringify(key)}: ${jsonbText(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * That `context` is what the bounds keep of `appended` (oldest first): its newest messages, at
 * least the last; at most CONTRACT_SESSION_MAX_MESSAGES of them and, unless alone, at most
 * CONTRACT_SESSION_MAX_BYTES; and not far below the byte bound: the next older one would not have
 * fitted (measured as jsonb prints, so that every backend's cut passes).
 */
function assertNewestWithinBounds(appended: readonly Message[], context: readonly Message[]): void {
  const kept = context.length;
  assert.ok(kept >= 1, 'the newest message is always kept');
  assert.deepEqual(context, appended.slice(-kept));
  assert.ok(kept <= CONTRACT_SESSION_MAX_MESSAGES, `${kept} messages kept`);
  if (kept > 1) assert.ok(compactBytes(context) <= CONTRACT_SESSION_MAX_BYTES, `${compactBytes(context)} bytes kept`);
  if (kept < appended.length && kept < CONTRACT_SESSION_MAX_MESSAGES) {
    const withNextOlder = appended.slice(-kept - 1);
    assert.ok(jsonbBytes(withNextOlder) > CONTRACT_SESSION_MAX_BYTES, `the next older would have fitted: ${jsonbBytes(withNextOlder)} bytes`);
  }
}

/**
 * The behaviour every storage backend must have. Each backend's spec calls this once;
 * `open` returns the storage, with the options given. With a `skipReason` (a database this
 * machine does not have) the suite is one skipped test that says why. Tests share one storage
 * and keep apart by using their own user ids.
 */
export function runStorageContract(name: string, open: (options: StorageOptions) => Promise<OpenedStorage>, skipReason?: string): void {
  describe(`${name} storage contract`, () => {
    if (skipReason) {
      it.skip(`skipped: ${skipReason}`, () => undefined);
      return;
    }
    let opened: OpenedStorage | undefined;
    let storage: StorageBackend;
    beforeAll(async () => {
      opened = await open({ statefulSessionMaxMessages: CONTRACT_SESSION_MAX_MESSAGES, statefulSessionMaxBytes: CONTRACT_SESSION_MAX_BYTES });
      storage = opened.storage;
    });
    afterAll(() => opened?.dispose());
    const newUser = () => `user-${uuidv7()}`;

    // Claims, deliveries and time-outs see every user's records. Each test that uses them works in
    // its own era of 30 days, each earlier than the one before, so that nothing an earlier test
    // wrote is due in it. (The rest of the suite writes after 2000, or at fixed instants of 1970
    // and before, which the eras, counting down from 1990, never reach.)
    let era = Date.UTC(1990, 0, 1);
    const newEra = () => (era -= 30 * DAY);

    /** The fire's session and run, as the storage answered; fails the test if it did not fire. */
    const fire = async (write: FireWrite): Promise<{ session: Session; run: Run }> => {
      const outcome = await storage.firing.recordFire(write);
      if (outcome.status !== 'fired') assert.fail(`expected the fire to be written, got ${JSON.stringify(outcome)}`);
      return { session: outcome.session, run: outcome.run };
    };
    const firedSession = async (write: FireWrite) => (await fire(write)).session;

    it('answers a ping', async () => {
      await storage.lifecycle.ping();
    });

    describe('schedules', () => {
      it('round-trips every field', async () => {
        const schedule = aSchedule({ userId: newUser(), endedAt: new Date('2027-01-01T00:00:00.999Z') });
        await storage.schedules.createSchedule(schedule);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('says it created the schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        assert.equal(await storage.schedules.createSchedule(schedule), true);
        assert.equal(await storage.schedules.createSchedule(aSchedule({ userId: schedule.userId }), 2), true);
        assert.equal(await storage.schedules.hasSchedule(schedule.userId, schedule.id), true);
      });

      it('creates up to maxPerUser schedules per user, then refuses, writing nothing', async () => {
        const userId = newUser();
        for (let i = 0; i < 3; i++) assert.equal(await storage.schedules.createSchedule(aSchedule({ userId }), 3), true);
        const refused = aSchedule({ userId });
        assert.equal(await storage.schedules.createSchedule(refused, 3), false);
        assert.equal(await storage.schedules.getSchedule(userId, refused.id), null);
        assert.equal((await storage.schedules.listSchedules(userId)).length, 3);
        // The limit counts what the user has now, and only theirs.
        assert.equal(await storage.schedules.createSchedule(aSchedule({ userId }), 4), true);
        assert.equal(await storage.schedules.createSchedule(aSchedule({ userId: newUser() }), 1), true);
        const first = (await storage.schedules.listSchedules(userId))[0];
        await storage.schedules.deleteSchedule(userId, first.id);
        assert.equal(await storage.schedules.createSchedule(refused, 4), true);
        assert.equal((await storage.schedules.listSchedules(userId)).length, 4);
      });

      it('lets no concurrent creates of one user past the limit', async () => {
        const userId = newUser();
        const created = await Promise.all(Array.from({ length: 12 }, () => storage.schedules.createSchedule(aSchedule({ userId }), 5)));
        assert.equal(created.filter(Boolean).length, 5);
        assert.equal((await storage.schedules.listSchedules(userId)).length, 5);
      });

      it('round-trips null and empty values', async () => {
        const schedule = aSchedule({
          userId: newUser(),
          description: '',
          startedAt: null,
          endedAt: null,
          enabled: false,
          stateful: true,
          chatModelConfig: { type: 't', credential_id: '', model: 'm', parameters: {} },
        });
        await storage.schedules.createSchedule(schedule);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('returns null for a missing schedule and for another user’s', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        assert.equal(await storage.schedules.getSchedule(schedule.userId, uuidv7()), null);
        assert.equal(await storage.schedules.getSchedule(newUser(), schedule.id), null);
      });

      it('tells whether the user has a schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        assert.equal(await storage.schedules.hasSchedule(schedule.userId, schedule.id), true);
        assert.equal(await storage.schedules.hasSchedule(schedule.userId, uuidv7()), false);
        assert.equal(await storage.schedules.hasSchedule(newUser(), schedule.id), false);
      });

      it('lists only the user’s schedules, newest first, ties broken by id descending', async () => {
        const userId = newUser();
        const t = new Date('2026-05-01T10:00:00.000Z');
        const older = aSchedule({ userId, createdAt: new Date(t.getTime() - 1000) });
        const tieA = aSchedule({ userId, id: `${uuidv7()}`, createdAt: t });
        const tieB = aSchedule({ userId, id: `${uuidv7()}`, createdAt: t });
        for (const s of [tieA, older, tieB]) await storage.schedules.createSchedule(s);
        await storage.schedules.createSchedule(aSchedule({ userId: newUser() }));
        const ids = (await storage.schedules.listSchedules(userId)).map((s) => s.id);
        assert.deepEqual(ids, [tieB.id, tieA.id, older.id]);
        assert.deepEqual(await storage.schedules.listSchedules(newUser()), []);
      });

      it('updates every stored field of the user’s schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const changed = {
          ...schedule,
          agentId: 'agent-2',
          name: 'Renamed',
          description: 'new task',
          enabled: false,
          timezone: 'America/New_York',
          cronExpression: '*/5 * * * *',
          startedAt: null,
          endedAt: new Date('2030-01-01T00:00:00.000Z'),
          chatModelConfig: { type: 'anthropic', credential_id: 'c2', model: 'claude', parameters: { a: [1, 2] } },
          stateful: true,
          permissionMode: 'explore' as const,
          updatedAt: new Date('2026-06-01T00:00:00.000Z'),
        };
        const outcome = await storage.schedules.updateSchedule(schedule.userId, schedule.id, () => changed);
        assert.deepEqual(outcome, { status: 'updated', schedule: { ...changed, version: 2 } });
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...changed, version: 2 });
      });

      it('writes the nextRunAt the change returns, and lastRunAt never', async () => {
        const nextRunAt = new Date('2026-07-01T09:00:00.000Z');
        const lastRunAt = new Date('2026-06-30T09:00:00.000Z');
        const schedule = aSchedule({ userId: newUser(), nextRunAt, lastRunAt });
        await storage.schedules.createSchedule(schedule);
        const moved = { ...schedule, name: 'b', nextRunAt: new Date('2027-01-01T00:00:00.000Z'), lastRunAt: null };
        await storage.schedules.updateSchedule(schedule.userId, schedule.id, (current) => ({ ...moved, nextRunAt: current.nextRunAt }));
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...moved, nextRunAt, lastRunAt, version: 2 });
        await storage.schedules.updateSchedule(schedule.userId, schedule.id, () => moved);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...moved, lastRunAt, version: 3 });
      });

      it('refuses to update another user’s or a missing schedule, changing nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const change = () => assert.fail('change called for a schedule the user does not have');
        assert.deepEqual(await storage.schedules.updateSchedule(newUser(), schedule.id, change), { status: 'not-found' });
        assert.deepEqual(await storage.schedules.updateSchedule(schedule.userId, uuidv7(), change), { status: 'not-found' });
        assert.deepEqual(await storage.schedules.updateSchedule(schedule.userId, uuidv7(), change, 7), { status: 'not-found' });
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('passes the change a copy: what it mutates before it throws is not stored', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2026-07-01T09:00:00.000Z') });
        await storage.schedules.createSchedule(schedule);
        await assert.rejects(
          storage.schedules.updateSchedule(schedule.userId, schedule.id, (current) => {
            assert.deepEqual(current, schedule);
            current.name = 'mutated';
            current.chatModelConfig.parameters.temperature = 9;
            throw new Error('refused');
          }),
          /refused/,
        );
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('hands out copies: mutating a returned schedule changes nothing stored', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const copy = (await storage.schedules.getSchedule(schedule.userId, schedule.id))!;
        copy.name = 'mutated';
        copy.chatModelConfig.parameters.temperature = 9;
        schedule.name = 'mutated too';
        assert.equal((await storage.schedules.getSchedule(schedule.userId, schedule.id))!.name, 'Daily digest');
        assert.equal((await storage.schedules.getSchedule(schedule.userId, schedule.id))!.chatModelConfig.parameters.temperature, 0.2);
      });
    });

    describe('schedule versions', () => {
      it('start at 1 and count every update; the outcome is the record as stored', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        assert.equal((await storage.schedules.getSchedule(schedule.userId, schedule.id))!.version, 1);
        for (const version of [2, 3, 4]) {
          const outcome = await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: `v${version}` }));
          assert.equal(outcome.status, 'updated');
          const stored = (await storage.schedules.getSchedule(schedule.userId, schedule.id))!;
          assert.deepEqual(outcome, { status: 'updated', schedule: stored });
          assert.deepEqual(stored, { ...schedule, name: `v${version}`, version });
        }
      });

      it('are set by the storage: the change cannot set them, nor id, user, creation or last run', async () => {
        const lastRunAt = new Date('2026-06-30T09:00:00.000Z');
        const schedule = aSchedule({ userId: newUser(), lastRunAt });
        await storage.schedules.createSchedule(schedule);
        const outcome = await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({
          ...c,
          id: uuidv7(),
          userId: newUser(),
          createdAt: new Date('2020-01-01T00:00:00.000Z'),
          lastRunAt: null,
          version: 40,
          name: 'renamed',
        }));
        const expected = { ...schedule, name: 'renamed', version: 2 };
        assert.deepEqual(outcome, { status: 'updated', schedule: expected });
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), expected);
      });

      it('update only the expected version: a mismatch writes nothing and does not call the change', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const rename = (name: string) => (c: Schedule) => ({ ...c, name });
        assert.equal((await storage.schedules.updateSchedule(schedule.userId, schedule.id, rename('first'), 1)).status, 'updated');
        const stale = await storage.schedules.updateSchedule(schedule.userId, schedule.id, () => assert.fail('change called on a mismatch'), 1);
        assert.deepEqual(stale, { status: 'version-mismatch', storedVersion: 2 });
        assert.deepEqual(await storage.schedules.updateSchedule(schedule.userId, schedule.id, rename('x'), []), {
          status: 'version-mismatch',
          storedVersion: 2,
        });
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'first', version: 2 });
        assert.equal((await storage.schedules.updateSchedule(schedule.userId, schedule.id, rename('second'), [5, 2])).status, 'updated');
        assert.equal((await storage.schedules.updateSchedule(schedule.userId, schedule.id, rename('third'))).status, 'updated');
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'third', version: 4 });
      });

      it('write nothing when the change throws, and the error reaches the caller', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2026-07-01T09:00:00.000Z') });
        await storage.schedules.createSchedule(schedule);
        const refused = new ValidationFailed([{ field: 'ended_at', message: 'ended_at must be after started_at' }]);
        await assert.rejects(
          storage.schedules.updateSchedule(schedule.userId, schedule.id, () => {
            throw refused;
          }),
          (error) => error === refused,
        );
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
        // The storage is still usable: the failed update released what it held.
        await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'after' }), 1);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'after', version: 2 });
      });

      it('lose no update when many run concurrently, each changing what it reads', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const count = 20;
        const outcomes = await Promise.all(
          Array.from({ length: count }, (_, i) =>
            storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({
              ...c,
              catchupWindowSeconds: c.catchupWindowSeconds + 1,
              chatModelConfig: { ...c.chatModelConfig, parameters: { ...c.chatModelConfig.parameters, [`k${i}`]: i } },
            })),
          ),
        );
        const versions = outcomes.map((o) => (o.status === 'updated' ? o.schedule.version : o.status));
        assert.deepEqual(
          [...versions].sort((a, b) => Number(a) - Number(b)),
          Array.from({ length: count }, (_, i) => i + 2),
        );
        const stored = (await storage.schedules.getSchedule(schedule.userId, schedule.id))!;
        assert.equal(stored.version, count + 1);
        assert.equal(stored.catchupWindowSeconds, schedule.catchupWindowSeconds + count);
        assert.deepEqual(stored.chatModelConfig.parameters, {
          ...schedule.chatModelConfig.parameters,
          ...Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i])),
        });
      });

      it('let exactly one of concurrent updates of one expected version through', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: `writer ${i}` }), 1),
          ),
        );
        const winners = outcomes.filter((o) => o.status === 'updated');
        assert.equal(winners.length, 1);
        assert.ok(outcomes.every((o) => o.status === 'updated' || (o.status === 'version-mismatch' && o.storedVersion === 2)));
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), winners[0].schedule);
      });

      it('are not bumped by fires, which an update neither undoes nor is undone by', async () => {
        // Claims see every user's schedules: this one is due long before any claims test's, and
        // the claim parks it (no next run), so that none of them claims it again.
        const now = new Date(Date.UTC(1970, 0, 2));
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date(now.getTime() - 1000) });
        await storage.schedules.createSchedule(schedule);
        const fired = new Date('2026-05-09T09:00:00.000Z');
        await storage.firing.recordFire(fireWrite(schedule, fired));
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: fired });
        const claimed = await storage.firing.claimDueSchedules(now, 1000, (s) => ({
          scheduleId: s.id,
          fire: s.id === schedule.id ? fireWrite(s, now, 'cron', s.nextRunAt!) : null,
          unfired: [],
          nextRunAt: s.id === schedule.id ? null : s.nextRunAt,
        }));
        assert.deepEqual(claimed.filter((o) => o.scheduleId === schedule.id), [{ scheduleId: schedule.id, status: 'fired' }]);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, nextRunAt: null, lastRunAt: now });
        const later = new Date('2026-05-10T09:00:00.000Z');
        await Promise.all([
          storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'renamed' })),
          storage.firing.recordFire(fireWrite(schedule, later)),
        ]);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
          ...schedule,
          name: 'renamed',
          nextRunAt: null,
          lastRunAt: later,
          version: 2,
        });
      });
    });

    describe('missing next runs', () => {
      it('sets a missing nextRunAt from the record as stored, bumping no version', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: null });
        await storage.schedules.createSchedule(schedule);
        await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, cronExpression: '0 12 * * *' }));
        const at = new Date('2026-07-01T12:00:00.000Z');
        const set = await storage.firing.setMissingNextRun(schedule.userId, schedule.id, (current) => {
          assert.equal(current.cronExpression, '0 12 * * *');
          return at;
        });
        assert.deepEqual(set, at);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
          ...schedule,
          cronExpression: '0 12 * * *',
          nextRunAt: at,
          version: 2,
        });
      });

      it('leaves a disabled, planned, missing or another user’s schedule alone, without asking', async () => {
        const userId = newUser();
        const planned = new Date('2026-07-01T09:00:00.000Z');
        const disabled = aSchedule({ userId, nextRunAt: null, enabled: false });
        const scheduled = aSchedule({ userId, nextRunAt: planned });
        for (const s of [disabled, scheduled]) await storage.schedules.createSchedule(s);
        const plan = () => assert.fail('plan called for a schedule that needs none');
        assert.equal(await storage.firing.setMissingNextRun(userId, disabled.id, plan), null);
        assert.equal(await storage.firing.setMissingNextRun(userId, scheduled.id, plan), null);
        assert.equal(await storage.firing.setMissingNextRun(userId, uuidv7(), plan), null);
        const theirs = aSchedule({ userId: newUser(), nextRunAt: null });
        await storage.schedules.createSchedule(theirs);
        assert.equal(await storage.firing.setMissingNextRun(userId, theirs.id, plan), null);
        assert.deepEqual(await storage.schedules.getSchedule(userId, disabled.id), disabled);
        assert.deepEqual(await storage.schedules.getSchedule(userId, scheduled.id), scheduled);
        assert.deepEqual(await storage.schedules.getSchedule(theirs.userId, theirs.id), theirs);
      });

      it('writes nothing when the plan finds no time or throws', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: null });
        await storage.schedules.createSchedule(schedule);
        assert.equal(await storage.firing.setMissingNextRun(schedule.userId, schedule.id, () => null), null);
        await assert.rejects(
          storage.firing.setMissingNextRun(schedule.userId, schedule.id, () => {
            throw new Error('bad cron');
          }),
          /bad cron/,
        );
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), schedule);
      });
    });

    describe('sessions', () => {
      it('records a fresh session per fire and lists them newest first, ties broken by id descending', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const t = new Date('2026-05-01T09:00:00.000Z');
        const first = await firedSession(fireWrite(schedule, new Date(t.getTime() - 60_000)));
        const tieA = await firedSession(fireWrite(schedule, t));
        const tieB = await firedSession(fireWrite(schedule, t));
        const listed = await storedSessions(storage.history, schedule.userId, schedule.id);
        const [later, earlier] = tieA.id > tieB.id ? [tieA, tieB] : [tieB, tieA];
        assert.deepEqual(
          listed.map((s) => s.id),
          [later.id, earlier.id, first.id],
        );
        assert.deepEqual(listed[2], first);
      });

      it('round-trips the whole session record', async () => {
        const schedule = aSchedule({ userId: newUser(), permissionMode: 'accept_edits' });
        await storage.schedules.createSchedule(schedule);
        const write = fireWrite(schedule, new Date('2026-05-02T09:00:00.456Z'));
        write.session.teamId = 'team-1';
        write.session.state.tasks_context.tasks.push({
          subject: 's',
          description: 'd',
          metadata: { k: 'v' },
          created_at: '2026-05-02T09:00:00Z',
          state: 'in_progress',
          id: 't1',
          owner: null,
          blocks: ['t2'],
          blocked_by: [],
        });
        write.session.state.tool_context.read_file_cache.push({ lines: ['a', 'b'], updated_at: 1, bytes: 3, file_path: '/x' });
        assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', session: write.session, run: write.run });
        assert.deepEqual(await storedSession(storage.history, schedule, write.session.id), write.session);
      });

      it('scopes sessions to their user', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const session = await firedSession(fireWrite(schedule, new Date()));
        const stranger = newUser();
        assert.deepEqual(await storedSessions(storage.history, stranger, schedule.id), []);
        assert.equal(await storedSession(storage.history, { userId: stranger, id: schedule.id }, session.id), null);
        assert.equal(await storedSession(storage.history, schedule, uuidv7()), null);
      });

      it('appends each stateful fire to one session, keeping its creation time', async () => {
        const schedule = aSchedule({ userId: newUser(), stateful: true });
        await storage.schedules.createSchedule(schedule);
        const t1 = new Date('2026-05-03T09:00:00.000Z');
        const t2 = new Date('2026-05-04T09:00:00.000Z');
        const first = await firedSession(fireWrite(schedule, t1));
        const second = await firedSession(fireWrite(schedule, t2));
        assert.equal(first.id, statefulSessionId(schedule.id));
        assert.equal(second.id, first.id);
        const [stored, ...rest] = await storedSessions(storage.history, schedule.userId, schedule.id);
        assert.equal(rest.length, 0);
        assert.deepEqual(stored, second);
        assert.equal(stored.createdAt.getTime(), t1.getTime());
        assert.equal(stored.updatedAt.getTime(), t2.getTime());
        assert.deepEqual(
          stored.state.context.map((m) => m.created_at),
          [t1.toISOString(), t2.toISOString()],
        );
      });

      it('loses no message when stateful fires of one schedule run concurrently', async () => {
        const schedule = aSchedule({ userId: newUser(), stateful: true });
        await storage.schedules.createSchedule(schedule);
        const fires = Array.from({ length: 8 }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 4, 5, 9, 0, i))));
        await Promise.all(fires.map((fire) => storage.firing.recordFire(fire)));
        const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
        assert.deepEqual(
          stored.state.context.map((m) => m.id).sort(),
          fires.map((f) => f.message.id).sort(),
        );
      });

      describe(`a stateful session, bounded to ${CONTRACT_SESSION_MAX_MESSAGES} messages`, () => {
        const max = CONTRACT_SESSION_MAX_MESSAGES;
        const statefulFires = (schedule: Schedule, count: number, from = 0) =>
          Array.from({ length: count }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 5, 1, 9, 0, from + i))));
        const contextIds = async (schedule: Schedule) =>
          (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!.state.context.map((m) => m.id);

        it('keeps every message up to the bound, in the order appended', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.schedules.createSchedule(schedule);
          const fires = statefulFires(schedule, max);
          let last;
          for (const fire of fires) last = await firedSession(fire);
          assert.deepEqual(await contextIds(schedule), fires.map((f) => f.message.id));
          assert.deepEqual(last, await storedSession(storage.history, schedule, statefulSessionId(schedule.id)));
          assert.deepEqual(last!.state.context.at(-1), fires.at(-1)!.message);
        });

        it('drops the oldest past the bound, keeping the newest, and returns the session as stored', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.schedules.createSchedule(schedule);
          const fires = statefulFires(schedule, max + 3);
          const returned = [];
          for (const fire of fires) returned.push(await firedSession(fire));
          const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
          assert.deepEqual(stored.state.context.map((m) => m.id), fires.slice(3).map((f) => f.message.id));
          assert.deepEqual(returned.at(-1), stored);
          assert.equal(returned[max].state.context.length, max);
          assert.equal(returned[max].state.context[0].id, fires[1].message.id);
          // Only the context changes: the rest of the session is as the first fire wrote it.
          assert.deepEqual({ ...stored, state: { ...stored.state, context: [] }, updatedAt: null }, {
            ...fires[0].session,
            state: { ...fires[0].session.state, context: [] },
            updatedAt: null,
          });
          assert.equal(stored.updatedAt.getTime(), fires.at(-1)!.firedAt.getTime());
          assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, max + 3);
        });

        it('loses none of the newest messages when concurrent fires append at the bound', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.schedules.createSchedule(schedule);
          const before = statefulFires(schedule, max);
          for (const fire of before) await storage.firing.recordFire(fire);
          const concurrent = statefulFires(schedule, 6, max);
          await Promise.all(concurrent.map((fire) => storage.firing.recordFire(fire)));
          const ids = await contextIds(schedule);
          assert.equal(ids.length, max);
          assert.deepEqual(ids.slice(0, max - 6), before.slice(6).map((f) => f.message.id));
          assert.deepEqual(ids.slice(max - 6).sort(), concurrent.map((f) => f.message.id).sort());
        });

        it('bounds the appends of claimed fires the same way', async () => {
          const now = new Date(Date.UTC(1960, 0, 1));
          const schedule = aSchedule({ userId: newUser(), stateful: true, nextRunAt: new Date(now.getTime() - 1000) });
          await storage.schedules.createSchedule(schedule);
          const before = statefulFires(schedule, max);
          for (const fire of before) await storage.firing.recordFire(fire);
          const claimed = fireWrite(schedule, now, 'cron', schedule.nextRunAt!);
          const outcomes = await storage.firing.claimDueSchedules(now, 1000, (s) => ({
            scheduleId: s.id,
            fire: s.id === schedule.id ? claimed : null,
            unfired: [],
            nextRunAt: s.id === schedule.id ? null : s.nextRunAt,
          }));
          assert.deepEqual(outcomes.filter((o) => o.scheduleId === schedule.id), [{ scheduleId: schedule.id, status: 'fired' }]);
          assert.deepEqual(await contextIds(schedule), [...before.slice(1).map((f) => f.message.id), claimed.message.id]);
          const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
          assert.deepEqual(stored.state.context.at(-1), claimed.message);
          assert.equal(stored.updatedAt.getTime(), now.getTime());
        });
      });

      it('writes nothing for a fire of a missing or another user’s schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        assert.deepEqual(await storage.firing.recordFire(fireWrite(schedule, new Date())), { status: 'not-found' });
        assert.deepEqual(await storage.firing.recordFire(fireWrite(schedule, new Date(), 'manual', new Date(), true)), { status: 'not-found' });
        await storage.schedules.createSchedule(schedule);
        const stranger = { ...schedule, userId: newUser() };
        assert.deepEqual(await storage.firing.recordFire(fireWrite(stranger, new Date())), { status: 'not-found' });
        assert.deepEqual(await storage.firing.recordFire(fireWrite(stranger, new Date(), 'manual', new Date(), true)), { status: 'not-found' });
        assert.deepEqual(await storedSessions(storage.history, schedule.userId, schedule.id), []);
        assert.deepEqual(await storedSessions(storage.history, stranger.userId, schedule.id), []);
      });
    });

    describe('runs', () => {
      it('records a fire’s run with the session and sets lastRunAt', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2030-01-01T00:00:00.000Z') });
        await storage.schedules.createSchedule(schedule);
        const at = new Date('2026-05-06T09:00:00.000Z');
        const write = fireWrite(schedule, at);
        await storage.firing.recordFire(write);
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [write.run]);
        const stored = (await storage.schedules.getSchedule(schedule.userId, schedule.id))!;
        assert.deepEqual(stored, { ...schedule, lastRunAt: at });
      });

      it('lists runs newest first by scheduled time, ties by id, scoped to the user', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const t = new Date('2026-05-07T09:00:00.000Z');
        const early = fireWrite(schedule, new Date(t.getTime() - 1000));
        const tieA = fireWrite(schedule, t);
        const tieB = fireWrite(schedule, t);
        for (const w of [tieA, early, tieB]) await storage.firing.recordFire(w);
        const [later, earlier] = tieA.run.id > tieB.run.id ? [tieA, tieB] : [tieB, tieA];
        assert.deepEqual(
          (await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).map((r) => r.id),
          [later.run.id, earlier.run.id, early.run.id],
        );
        assert.deepEqual(await storage.history.listRunsBySchedule(newUser(), schedule.id), []);
      });

      it('refuses a second scheduled run for one schedule and fire time, writing nothing of it', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const slot = new Date('2026-05-08T09:00:00.000Z');
        await storage.firing.recordFire(fireWrite(schedule, slot, 'cron', slot));
        const again = fireWrite(schedule, new Date(slot.getTime() + 5), 'catchup', slot);
        await assert.rejects(storage.firing.recordFire(again));
        assert.equal(await storedSession(storage.history, schedule, again.session.id), null);
        assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 1);
        // Manual runs are not constrained.
        await storage.firing.recordFire(fireWrite(schedule, slot, 'manual', slot));
        await storage.firing.recordFire(fireWrite(schedule, slot, 'manual', slot));
        assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 3);
      });
    });

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
        assert.deepEqual(await storage.history.pageSessionsJson(newUser(), schedule.id, { limit: 2 }), { items: [], total: 0, next: null });
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
            const json = await storage.history.pageSessionsJson(userId, id, { limit, after });
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
          const all = await storage.history.pageSessionsJson(userId, id, null);
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
          const json = await storage.history.pageSessionsJson(schedule.userId, schedule.id, paged ? { limit: 5 } : null);
          assert.equal(spliced(json, paged), serialised({ items: expected, total: 2, next: null }, paged));
        }
        assert.equal(stateful!.state.context.length, 3);
        const read = (await storage.history.pageSessionsJson(schedule.userId, schedule.id, null)).items.find((s) => s.id === plain.id)!;
        assert.deepEqual(JSON.parse(String(read.stateJson)), state);
      });

      it('scopes them to the user', async () => {
        const schedule = await firedSchedule(2);
        assert.deepEqual(await storage.history.pageSessionsJson(newUser(), schedule.id, { limit: 2 }), { items: [], total: 0, next: null });
        assert.deepEqual(await storage.history.pageSessionsJson(newUser(), schedule.id, null), { items: [], total: 0, next: null });
      });
    });

    describe('claims', () => {
      const due = (userId: string, nextRunAt: Date, overrides: Partial<Schedule> = {}) =>
        aSchedule({ userId, nextRunAt, ...overrides });
      const firePlan = (schedule: Schedule, now: Date, missed: Date[] = []): DueFirePlan => ({
        scheduleId: schedule.id,
        fire: fireWrite(schedule, now, 'cron', schedule.nextRunAt!),
        unfired: missed.map((at) => unfiredRun(schedule, at, 'missed', 'missed')),
        nextRunAt: new Date(now.getTime() + 3_600_000),
      });

      it('claims due schedules earliest first, at most `limit`, and writes each plan', async () => {
        const now = new Date(newEra());
        const userId = newUser();
        const [a, b, c] = [3, 2, 1].map((minutes) => due(userId, new Date(now.getTime() - minutes * 60_000)));
        const future = due(userId, new Date(now.getTime() + 1));
        const parked = due(userId, null as unknown as Date);
        for (const s of [c, future, a, parked, b]) await storage.schedules.createSchedule(s);
        const missedAt = new Date(a.nextRunAt!.getTime() - 3_600_000);
        const plans = new Map<string, DueFirePlan>();
        const plan = (s: Schedule) => {
          const p = firePlan(s, now, s.id === a.id ? [missedAt] : []);
          plans.set(s.id, p);
          return p;
        };

        const first = await storage.firing.claimDueSchedules(now, 2, plan);
        assert.deepEqual(first, [
          { scheduleId: a.id, status: 'fired' },
          { scheduleId: b.id, status: 'fired' },
        ]);
        const second = await storage.firing.claimDueSchedules(now, 10, plan);
        assert.deepEqual(second, [{ scheduleId: c.id, status: 'fired' }]);
        assert.deepEqual(await storage.firing.claimDueSchedules(now, 10, plan), []);

        const storedA = (await storage.schedules.getSchedule(userId, a.id))!;
        assert.deepEqual(storedA, { ...a, nextRunAt: plans.get(a.id)!.nextRunAt, lastRunAt: now });
        const runsA = await storage.history.listRunsBySchedule(userId, a.id);
        assert.deepEqual(runsA, [plans.get(a.id)!.fire!.run, plans.get(a.id)!.unfired[0]]);
        const [sessionA] = await storedSessions(storage.history, userId, a.id);
        assert.deepEqual(sessionA, plans.get(a.id)!.fire!.session);
        assert.deepEqual(await storage.schedules.getSchedule(userId, future.id), future);
        assert.deepEqual(await storage.history.listRunsBySchedule(userId, future.id), []);
      });

      it('appends a claimed stateful fire to the stateful session', async () => {
        const now = new Date(newEra());
        const schedule = due(newUser(), new Date(now.getTime() - 1000), { stateful: true });
        await storage.schedules.createSchedule(schedule);
        await storage.firing.recordFire(fireWrite(schedule, new Date(now.getTime() - 60_000)));
        await storage.firing.claimDueSchedules(now, 10, (s) => firePlan(s, now));
        const session = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
        assert.equal(session.state.context.length, 2);
        assert.equal(session.updatedAt.getTime(), now.getTime());
      });

      it('records only missed runs when the plan has no fire', async () => {
        const now = new Date(newEra());
        const schedule = due(newUser(), new Date(now.getTime() - 86_400_000));
        await storage.schedules.createSchedule(schedule);
        const missed = unfiredRun(schedule, schedule.nextRunAt!, 'missed', 'missed');
        const next = new Date(now.getTime() + 1000);
        const outcomes = await storage.firing.claimDueSchedules(now, 10, (s) => ({ scheduleId: s.id, fire: null, unfired: [missed], nextRunAt: next }));
        assert.deepEqual(outcomes, [{ scheduleId: schedule.id, status: 'fired' }]);
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [missed]);
        assert.deepEqual(await storedSessions(storage.history, schedule.userId, schedule.id), []);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, nextRunAt: next });
      });

      it('records a fire the database refuses as a failed run, advances it, and fires the rest', async () => {
        const now = new Date(newEra());
        const userId = newUser();
        const refused = due(userId, new Date(now.getTime() - 2000));
        const fine = due(userId, new Date(now.getTime() - 1000));
        await storage.schedules.createSchedule(refused);
        await storage.schedules.createSchedule(fine);
        // An earlier run for the same fire time: the unique constraint refuses the duplicate.
        const earlier = fireWrite(refused, refused.nextRunAt!, 'cron', refused.nextRunAt!);
        await storage.firing.recordFire(earlier);
        // A fresh-session fire whose session id is taken: the insert fails.
        const clash = await firedSession(fireWrite(fine, new Date(now.getTime() - 9000)));
        const plans = new Map<string, DueFirePlan>();
        const outcomes = await storage.firing.claimDueSchedules(now, 10, (s) => {
          const p = firePlan(s, now);
          if (s.id === fine.id) p.fire!.session.id = clash.id;
          plans.set(s.id, p);
          return p;
        });
        assert.deepEqual(outcomes.map((o) => [o.scheduleId, o.status]), [
          [refused.id, 'failed'],
          [fine.id, 'failed'],
        ]);
        // The refused duplicate leaves the original run alone; nothing else of it was written.
        assert.deepEqual(await storage.history.listRunsBySchedule(userId, refused.id), [earlier.run]);
        assert.equal((await storage.schedules.getSchedule(userId, refused.id))!.nextRunAt!.getTime(), plans.get(refused.id)!.nextRunAt!.getTime());
        // The other failure is recorded as a failed run, without a session.
        const [failedRun] = (await storage.history.listRunsBySchedule(userId, fine.id)).filter((r) => r.trigger === 'cron');
        assert.equal(failedRun.status, 'failed');
        assert.equal(failedRun.sessionId, null);
        assert.ok(failedRun.error);
        // A run of a fire that was not written neither finished nor can time out.
        assert.equal(failedRun.finishedAt, null);
        assert.equal(failedRun.timeoutAt, null);
        assert.equal((await storedSessions(storage.history, userId, fine.id)).length, 1);
        assert.equal((await storage.schedules.getSchedule(userId, fine.id))!.nextRunAt!.getTime(), plans.get(fine.id)!.nextRunAt!.getTime());
      });

      it('gives each due schedule to exactly one of several concurrent claimers', async () => {
        const now = new Date(newEra());
        const userId = newUser();
        const schedules = Array.from({ length: 30 }, (_, i) => due(userId, new Date(now.getTime() - i * 1000)));
        for (const s of schedules) await storage.schedules.createSchedule(s);
        const claimer = async () => {
          const mine: string[] = [];
          for (;;) {
            const outcomes = await storage.firing.claimDueSchedules(now, 4, (s) => firePlan(s, now));
            if (outcomes.length === 0) return mine;
            mine.push(...outcomes.map((o) => o.scheduleId));
          }
        };
        const claimed = (await Promise.all([claimer(), claimer(), claimer()])).flat();
        assert.deepEqual([...claimed].sort(), schedules.map((s) => s.id).sort());
        for (const s of schedules) {
          assert.equal((await storage.history.listRunsBySchedule(userId, s.id)).length, 1);
          assert.equal((await storedSessions(storage.history, userId, s.id)).length, 1);
        }
      });

      it('counts the due schedules of every user, and gives the earliest', async () => {
        const now = new Date(newEra());
        const [early, late] = [5000, 1000].map((ms) => due(newUser(), new Date(now.getTime() - ms)));
        const future = due(newUser(), new Date(now.getTime() + 1));
        const parked = due(newUser(), null as unknown as Date);
        for (const s of [late, future, early, parked]) await storage.schedules.createSchedule(s);
        assert.deepEqual(await storage.firing.dueBacklog(now), { count: 2, oldestNextRunAt: early.nextRunAt });
        assert.deepEqual(await storage.firing.dueBacklog(new Date(now.getTime() - 3000)), { count: 1, oldestNextRunAt: early.nextRunAt });
        await storage.firing.claimDueSchedules(now, 10, (s) => firePlan(s, now));
        assert.deepEqual(await storage.firing.dueBacklog(now), { count: 0, oldestNextRunAt: null });
      });

      it('gives the earliest next run of every user, due or not, and none of a schedule without one', async () => {
        const now = new Date(newEra());
        // Whatever earlier tests left due is parked first, so that only this era's runs are ahead.
        const park = (s: Schedule): DueFirePlan => ({ scheduleId: s.id, fire: null, unfired: [], nextRunAt: null });
        await storage.firing.claimDueSchedules(now, 100_000, park);
        const [soon, later] = [1000, 5000].map((ms) => due(newUser(), new Date(now.getTime() + ms)));
        const parked = due(newUser(), null as unknown as Date);
        for (const s of [later, parked, soon]) await storage.schedules.createSchedule(s);
        assert.deepEqual(await storage.firing.nextDueAt(), soon.nextRunAt);
        await storage.firing.claimDueSchedules(soon.nextRunAt!, 10, park);
        assert.deepEqual(await storage.firing.nextDueAt(), later.nextRunAt);
        const earlier = due(newUser(), new Date(now.getTime() + 10));
        await storage.schedules.createSchedule(earlier);
        assert.deepEqual(await storage.firing.nextDueAt(), earlier.nextRunAt);
        (await storage.firing.nextDueAt())!.setTime(0);
        assert.deepEqual(await storage.firing.nextDueAt(), earlier.nextRunAt);
      });

      it('lists enabled schedules without a next run, of any user', async () => {
        const userId = newUser();
        const unplanned = aSchedule({ userId, nextRunAt: null });
        const disabled = aSchedule({ userId, nextRunAt: null, enabled: false });
        const planned = aSchedule({ userId, nextRunAt: new Date() });
        for (const s of [unplanned, disabled, planned]) await storage.schedules.createSchedule(s);
        const ids = (await storage.firing.listEnabledSchedulesWithoutNextRun(100_000)).map((s) => s.id);
        assert.ok(ids.includes(unplanned.id));
        assert.ok(!ids.includes(disabled.id) && !ids.includes(planned.id));
      });
    });

    describe('delete', () => {
      it('deletes the schedule and the sessions it triggered, nothing else', async () => {
        const userId = newUser();
        const doomed = aSchedule({ userId });
        const kept = aSchedule({ userId });
        await storage.schedules.createSchedule(doomed);
        await storage.schedules.createSchedule(kept);
        const doomedSession = await firedSession(fireWrite(doomed, new Date()));
        await storage.firing.recordFire(fireWrite({ ...doomed, stateful: true }, new Date()));
        const keptSession = await firedSession(fireWrite(kept, new Date()));

        assert.equal(await storage.schedules.deleteSchedule(userId, doomed.id), true);
        assert.equal(await storage.schedules.getSchedule(userId, doomed.id), null);
        assert.deepEqual(await storedSessions(storage.history, userId, doomed.id), []);
        assert.equal(await storedSession(storage.history, doomed, doomedSession.id), null);
        assert.equal(await storedSession(storage.history, doomed, statefulSessionId(doomed.id)), null);
        assert.deepEqual(await storedSession(storage.history, kept, keptSession.id), keptSession);
        assert.deepEqual(await storage.history.listRunsBySchedule(userId, doomed.id), []);
        assert.equal((await storage.history.listRunsBySchedule(userId, kept.id)).length, 1);
        assert.deepEqual(await storage.schedules.getSchedule(userId, kept.id), { ...kept, lastRunAt: keptSession.createdAt });
        assert.equal(await storage.schedules.deleteSchedule(userId, doomed.id), false);
      });

      it('refuses to delete another user’s schedule, deleting nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.schedules.createSchedule(schedule);
        const session = await firedSession(fireWrite(schedule, new Date()));
        assert.equal(await storage.schedules.deleteSchedule(newUser(), schedule.id), false);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: session.createdAt });
        assert.deepEqual(await storedSession(storage.history, schedule, session.id), session);
      });
    });

    // ---- Dispatch. Every test below that writes dispatched runs works in its own era. ----

    /** A manual fire of `schedule` at `firedAt`, handed to the runtime; fails the test if it did not fire. */
    const dispatchFire = (schedule: Schedule, firedAt: Date) => fire(fireWrite(schedule, firedAt, 'manual', firedAt, true));
    /** A manual fire handed to the runtime, as recordFire answers it. */
    const tryDispatchFire = (schedule: Schedule, firedAt: Date) =>
      storage.firing.recordFire(fireWrite(schedule, firedAt, 'manual', firedAt, true));
    /** What claimDeliveries gives at `now`, leased only until `now`, so that the next claim at `now` sees it again. */
    const deliverable = (now: Date) => storage.delivery.claimDeliveries(now, 1000, now);
    const deliverableIds = async (now: Date) => (await deliverable(now)).map((d) => d.run.id);
    const runOf = async (run: Run) => (await storage.history.getRun(run.userId, run.scheduleId, run.id))?.run;
    const anAttempt = (runId: string, when: Date, statusCode: number | null, error: string | null = null, durationMs = 25) =>
      ({ runId, at: when, statusCode, error, durationMs }) satisfies DispatchAttempt;
    /** Records an attempt at `when`, made then, with its result. */
    const recordAttempt = (runId: string, when: Date, statusCode: number | null, result: DeliveryResult) =>
      storage.delivery.recordDeliveryAttempt(anAttempt(runId, when, statusCode), result, when);
    const created = async (overrides: Partial<Schedule>) => {
      const schedule = aSchedule({ userId: newUser(), ...overrides });
      await storage.schedules.createSchedule(schedule);
      return schedule;
    };
    /** Claims the due schedules at `now` with dispatched cron fires, each next due an hour later; the plans go to `plans`. */
    const claimDispatched = (now: Date, plans: DueFirePlan[] = []) =>
      storage.firing.claimDueSchedules(now, 1000, (s) => {
        const plan: DueFirePlan = {
          scheduleId: s.id,
          fire: fireWrite(s, now, 'cron', s.nextRunAt!, true),
          unfired: [],
          nextRunAt: at(now, HOUR),
        };
        plans.push(plan);
        return plan;
      });

    /** An agent's reply, as the runtime writes it into a session's context. */
    const reply = (text: string, id: string): Message => ({
      name: 'assistant',
      content: [{ type: 'text', text, id: `${id}-text` }],
      id,
      metadata: {},
      created_at: '2026-05-12T09:00:05.000Z',
      finished_at: '2026-05-12T09:00:09.000Z',
      usage: { input_tokens: 120, output_tokens: 40 },
    });

    describe('record-only and dispatched fires', () => {
      it('writes a record-only fire as succeeded, finished when fired, with nothing to deliver', async () => {
        const e = newEra();
        const schedule = await created({});
        const write = fireWrite(schedule, at(e));
        assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', session: write.session, run: write.run });
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [
          { ...write.run, status: 'succeeded', error: null, finishedAt: at(e), timeoutAt: null },
        ]);
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('writes a dispatched fire as pending, timing out after the run timeout, and delivers it from its fire', async () => {
        const e = newEra();
        const schedule = await created({ runTimeoutSeconds: 900 });
        const write = fireWrite(schedule, at(e), 'manual', at(e), true);
        assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', session: write.session, run: write.run });
        const run = { ...write.run, status: 'pending', error: null, finishedAt: null, timeoutAt: at(e, 900 * SECOND) };
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [run]);
        const stored = await storage.schedules.getSchedule(schedule.userId, schedule.id);
        assert.deepEqual(stored, { ...schedule, lastRunAt: at(e) });
        assert.deepEqual(await deliverable(at(e, -1)), []);
        assert.deepEqual(await storage.delivery.claimDeliveries(at(e), 10, at(e, MINUTE)), [
          { run, schedule: stored, session: write.session, attemptsMade: 0 },
        ]);
      });

      it('writes a claimed dispatched fire with its delivery', async () => {
        const e = newEra();
        const schedule = await created({ nextRunAt: at(e) });
        const plans: DueFirePlan[] = [];
        assert.deepEqual(await claimDispatched(at(e, SECOND), plans), [{ scheduleId: schedule.id, status: 'fired' }]);
        const { run, session } = plans[0].fire!;
        assert.equal(run.status, 'pending');
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [run]);
        assert.deepEqual(await storage.delivery.claimDeliveries(at(e, SECOND), 10, at(e, MINUTE)), [
          { run, schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id), session, attemptsMade: 0 },
        ]);
      });
    });

    describe('overlap policy', () => {
      it('refuses a manual fire while a run is active (skip), writing nothing', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'skip', runTimeoutSeconds: 600 });
        const first = await dispatchFire(schedule, at(e));
        const refused = fireWrite(schedule, at(e, SECOND), 'manual', at(e, SECOND), true);
        assert.deepEqual(await storage.firing.recordFire(refused), { status: 'busy', blockingRunId: first.run.id });
        assert.equal(await storedSession(storage.history, schedule, refused.session.id), null);
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [first.run]);
        assert.deepEqual(await storedSessions(storage.history, schedule.userId, schedule.id), [first.session]);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: at(e) });
        assert.deepEqual(await deliverableIds(at(e, DAY)), [first.run.id]);
      });

      it('counts a pending, dispatched or running run as active, and an ended one not', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'skip' });
        const first = await dispatchFire(schedule, at(e));
        const busy = { status: 'busy', blockingRunId: first.run.id };
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 1 * SECOND)), busy);
        await storage.delivery.recordDeliveryAttempt(anAttempt(first.run.id, at(e, 2 * SECOND), 202), { outcome: 'delivered' }, at(e, 2 * SECOND));
        assert.equal((await runOf(first.run))!.status, 'dispatched');
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 3 * SECOND)), busy);
        await storage.delivery.reportRunStatus(first.run.id, 'running', null, at(e, 4 * SECOND));
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 5 * SECOND)), busy);
        await storage.delivery.reportRunStatus(first.run.id, 'succeeded', null, at(e, 6 * SECOND));
        const second = await dispatchFire(schedule, at(e, 7 * SECOND));
        assert.equal(second.run.status, 'pending');
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 8 * SECOND)), { status: 'busy', blockingRunId: second.run.id });
      });

      it('no longer counts a run past its timeoutAt as active, before it is timed out too', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'skip', runTimeoutSeconds: 60 });
        const first = await dispatchFire(schedule, at(e));
        assert.deepEqual(await tryDispatchFire(schedule, at(e, MINUTE - 1)), { status: 'busy', blockingRunId: first.run.id });
        const second = await dispatchFire(schedule, at(e, MINUTE));
        assert.deepEqual(second.run.timeoutAt, at(e, 2 * MINUTE));
        assert.equal((await runOf(first.run))!.status, 'pending');
      });

      it('records a claimed fire while a run is active as skipped (skip): no session, lastRunAt kept, nextRunAt advanced', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'skip', runTimeoutSeconds: 10 * 3600, nextRunAt: at(e) });
        const plans: DueFirePlan[] = [];
        await claimDispatched(at(e), plans);
        assert.deepEqual(await claimDispatched(at(e, HOUR), plans), [{ scheduleId: schedule.id, status: 'fired' }]);
        const active = plans[0].fire!;
        const skipped = plans[1].fire!;
        const runs = await storage.history.listRunsBySchedule(schedule.userId, schedule.id);
        assert.deepEqual(runs, [
          { ...skipped.run, sessionId: null, firedAt: null, status: 'skipped', error: runs[0].error, finishedAt: null, timeoutAt: null },
          active.run,
        ]);
        assert.ok(runs[0].error!.includes(active.run.id), runs[0].error!);
        assert.equal(await storedSession(storage.history, schedule, skipped.session.id), null);
        assert.deepEqual(await storedSessions(storage.history, schedule.userId, schedule.id), [active.session]);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
          ...schedule,
          lastRunAt: at(e),
          nextRunAt: at(e, 2 * HOUR),
        });
        assert.deepEqual(await deliverableIds(at(e, 2 * HOUR)), [active.run.id]);
      });

      it('lets one manual fire wait behind the active run (buffer_one), and refuses the next', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        const first = await dispatchFire(schedule, at(e));
        const waiting = fireWrite(schedule, at(e, SECOND), 'manual', at(e, SECOND), true);
        // It waits: pending, without a timeout until it is released, and not deliverable.
        const waitingRun = { ...waiting.run, status: 'pending', timeoutAt: null };
        assert.deepEqual(await storage.firing.recordFire(waiting), { status: 'fired', session: waiting.session, run: waitingRun });
        assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [waitingRun, first.run]);
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: at(e, SECOND) });
        assert.deepEqual(await deliverableIds(at(e, DAY)), [first.run.id]);
        // A third is refused, naming the active run (see decideFire).
        const refused = fireWrite(schedule, at(e, 2 * SECOND), 'manual', at(e, 2 * SECOND), true);
        assert.deepEqual(await storage.firing.recordFire(refused), { status: 'busy', blockingRunId: first.run.id });
        assert.equal(await storedSession(storage.history, schedule, refused.session.id), null);
        assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 2);
      });

      it('lets one claimed fire wait (buffer_one) and records the next as skipped', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 10 * 3600, nextRunAt: at(e) });
        const plans: DueFirePlan[] = [];
        for (const hours of [0, 1, 2]) {
          assert.deepEqual(await claimDispatched(at(e, hours * HOUR), plans), [{ scheduleId: schedule.id, status: 'fired' }]);
        }
        const [active, waiting, skipped] = plans.map((p) => p.fire!);
        const runs = await storage.history.listRunsBySchedule(schedule.userId, schedule.id);
        assert.deepEqual(runs, [
          { ...skipped.run, sessionId: null, firedAt: null, status: 'skipped', error: runs[0].error, finishedAt: null, timeoutAt: null },
          { ...waiting.run, status: 'pending', timeoutAt: null },
          active.run,
        ]);
        assert.ok(runs[0].error!.includes(active.run.id), runs[0].error!);
        assert.equal((await storedSessions(storage.history, schedule.userId, schedule.id)).length, 2);
        // The waiting fire was written (its session, lastRunAt); the skipped one was not.
        assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
          ...schedule,
          lastRunAt: at(e, HOUR),
          nextRunAt: at(e, 3 * HOUR),
        });
        assert.deepEqual(await deliverableIds(at(e, 3 * HOUR)), [active.run.id]);
      });

      it('refuses a fire behind the waiting run once the active run is past its timeoutAt', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 60 });
        await dispatchFire(schedule, at(e));
        const waiting = await dispatchFire(schedule, at(e, SECOND));
        assert.equal(waiting.run.timeoutAt, null);
        assert.deepEqual(await tryDispatchFire(schedule, at(e, MINUTE)), { status: 'busy', blockingRunId: waiting.run.id });
      });

      it('fires whatever is active (allow), each run deliverable at once', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow', runTimeoutSeconds: 600 });
        const runs: Run[] = [];
        for (let i = 0; i < 3; i++) {
          const { run } = await dispatchFire(schedule, at(e, i * SECOND));
          assert.deepEqual(run.timeoutAt, at(e, i * SECOND + 600 * SECOND));
          runs.push(run);
        }
        assert.deepEqual(await deliverableIds(at(e, 2 * SECOND)), runs.map((r) => r.id));
      });

      it('does not apply to record-only fires', async () => {
        const e = newEra();
        for (const overlapPolicy of ['skip', 'buffer_one'] as const) {
          const schedule = await created({ overlapPolicy });
          await dispatchFire(schedule, at(e));
          if (overlapPolicy === 'buffer_one') assert.equal((await dispatchFire(schedule, at(e, SECOND))).run.timeoutAt, null);
          const recorded = fireWrite(schedule, at(e, 2 * SECOND));
          assert.deepEqual(await storage.firing.recordFire(recorded), { status: 'fired', session: recorded.session, run: recorded.run });
          assert.equal(recorded.run.status, 'succeeded');
        }
      });

      it('decides concurrent fires of one schedule one after another', async () => {
        const e = newEra();
        const skip = await created({ overlapPolicy: 'skip' });
        const skipOutcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => tryDispatchFire(skip, at(e, i))));
        const winners = skipOutcomes.flatMap((o) => (o.status === 'fired' ? [o.run] : []));
        assert.equal(winners.length, 1);
        assert.deepEqual(skipOutcomes.filter((o) => o.status !== 'fired'), Array(5).fill({ status: 'busy', blockingRunId: winners[0].id }));
        assert.equal((await storage.history.listRunsBySchedule(skip.userId, skip.id)).length, 1);

        const buffer = await created({ overlapPolicy: 'buffer_one' });
        const bufferOutcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => tryDispatchFire(buffer, at(e, i))));
        const firedRuns = bufferOutcomes.flatMap((o) => (o.status === 'fired' ? [o.run] : []));
        assert.equal(firedRuns.length, 2);
        const active = firedRuns.find((r) => r.timeoutAt !== null);
        assert.ok(active && firedRuns.some((r) => r.timeoutAt === null));
        assert.deepEqual(bufferOutcomes.filter((o) => o.status !== 'fired'), Array(4).fill({ status: 'busy', blockingRunId: active.id }));
        assert.equal((await storage.history.listRunsBySchedule(buffer.userId, buffer.id)).length, 2);
      });
    });

    describe('delivery claims', () => {
      it('claims deliverable entries of every user earliest first, at most `limit`, with run, schedule and session', async () => {
        const e = newEra();
        const mine = await created({ overlapPolicy: 'allow' });
        const theirs = await created({ overlapPolicy: 'allow' });
        const late = await dispatchFire(mine, at(e, 2 * SECOND));
        const early = await dispatchFire(mine, at(e));
        const middle = await dispatchFire(theirs, at(e, SECOND));
        const now = at(e, MINUTE);
        const delivery = async ({ run, session }: { run: Run; session: Session }) => ({
          run,
          schedule: await storage.schedules.getSchedule(run.userId, run.scheduleId),
          session,
          attemptsMade: 0,
        });
        assert.deepEqual(await storage.delivery.claimDeliveries(now, 2, at(now, MINUTE)), [await delivery(early), await delivery(middle)]);
        // Those are leased: the next claim takes the rest.
        assert.deepEqual(await storage.delivery.claimDeliveries(now, 2, at(now, MINUTE)), [await delivery(late)]);
        assert.deepEqual(await storage.delivery.claimDeliveries(now, 2, at(now, MINUTE)), []);
      });

      it('does not claim a leased entry before its lease ends, and claims it once it has (its dispatcher died)', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        assert.deepEqual((await storage.delivery.claimDeliveries(at(e), 10, at(e, MINUTE))).map((d) => d.run.id), [run.id]);
        assert.deepEqual(await storage.delivery.claimDeliveries(at(e, MINUTE - 1), 10, at(e, 2 * MINUTE)), []);
        const again = await storage.delivery.claimDeliveries(at(e, MINUTE), 10, at(e, 2 * MINUTE));
        assert.deepEqual(again.map((d) => [d.run, d.attemptsMade]), [[run, 0]]);
        assert.deepEqual(await storage.delivery.claimDeliveries(at(e, MINUTE), 10, at(e, 2 * MINUTE)), []);
      });

      it('does not claim an entry before it is available', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e, 10 * SECOND));
        assert.deepEqual(await deliverable(at(e, 10 * SECOND - 1)), []);
        assert.deepEqual(await deliverableIds(at(e, 10 * SECOND)), [run.id]);
      });

      it('deletes, without returning it, an entry whose run is no longer active', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow' });
        // No method leaves an entry to a run that ended; a fire that writes one already ended stands in for a race that might.
        const ended = fireWrite(schedule, at(e), 'manual', at(e), true);
        ended.run = { ...ended.run, status: 'succeeded', finishedAt: at(e), timeoutAt: null };
        await fire(ended);
        const live = await dispatchFire(schedule, at(e, SECOND));
        assert.deepEqual(await deliverableIds(at(e, MINUTE)), [live.run.id]);
        assert.deepEqual(await deliverableIds(at(e, MINUTE)), [live.run.id]);
        assert.equal((await runOf(ended.run))!.status, 'succeeded');
      });

      it('gives each entry to one of concurrent claimers', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow' });
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push((await dispatchFire(schedule, at(e, i * SECOND))).run.id);
        const now = at(e, MINUTE);
        const claims = await Promise.all([0, 1].map(() => storage.delivery.claimDeliveries(now, 6, at(now, MINUTE))));
        const rest = await storage.delivery.claimDeliveries(now, 10, at(now, MINUTE));
        const claimed = [...claims.flat(), ...rest].map((d) => d.run.id);
        assert.deepEqual([...claimed].sort(), [...ids].sort());
      });
    });

    describe('delivery attempts', () => {
      it('mark a delivered pending run dispatched and delete its entry', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.delivery.claimDeliveries(at(e), 10, at(e, MINUTE));
        const attempt = anAttempt(run.id, at(e, 100), 202, null, 85);
        await storage.delivery.recordDeliveryAttempt(attempt, { outcome: 'delivered' }, at(e, 200));
        assert.deepEqual(await storage.history.getRun(run.userId, run.scheduleId, run.id), {
          run: { ...run, status: 'dispatched' },
          attempts: [attempt],
        });
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('keep the status the runtime already reported when its delivery is recorded', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.delivery.claimDeliveries(at(e), 10, at(e, MINUTE));
        await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, SECOND));
        await storage.delivery.recordDeliveryAttempt(anAttempt(run.id, at(e, SECOND), 202), { outcome: 'delivered' }, at(e, 2 * SECOND));
        assert.deepEqual(await runOf(run), { ...run, status: 'running' });
      });

      it('end a run the runtime completed synchronously with its status and error', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow' });
        const good = (await dispatchFire(schedule, at(e))).run;
        const bad = (await dispatchFire(schedule, at(e, SECOND))).run;
        const now = at(e, MINUTE);
        await storage.delivery.recordDeliveryAttempt(anAttempt(good.id, now, 200), { outcome: 'completed', status: 'succeeded', error: null }, now);
        await storage.delivery.recordDeliveryAttempt(
          anAttempt(bad.id, now, 200),
          { outcome: 'completed', status: 'failed', error: 'the model refused' },
          now,
        );
        assert.deepEqual(await runOf(good), { ...good, status: 'succeeded', error: null, finishedAt: now });
        assert.deepEqual(await runOf(bad), { ...bad, status: 'failed', error: 'the model refused', finishedAt: now });
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('make a retried entry available again at nextAttemptAt, unleased, counting the attempt, and not before', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run, session } = await dispatchFire(schedule, at(e));
        await storage.delivery.claimDeliveries(at(e), 10, at(e, 10 * MINUTE));
        const attempt = anAttempt(run.id, at(e, SECOND), 503, 'HTTP 503', 40);
        await storage.delivery.recordDeliveryAttempt(attempt, { outcome: 'retry', nextAttemptAt: at(e, 30 * SECOND) }, at(e, SECOND));
        assert.deepEqual(await storage.history.getRun(run.userId, run.scheduleId, run.id), { run, attempts: [attempt] });
        assert.deepEqual(await deliverable(at(e, 30 * SECOND - 1)), []);
        // Its lease (10 minutes) is gone: it is claimed at nextAttemptAt.
        assert.deepEqual(await storage.delivery.claimDeliveries(at(e, 30 * SECOND), 10, at(e, MINUTE)), [
          { run, schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id), session, attemptsMade: 1 },
        ]);
        await recordAttempt(run.id, at(e, 31 * SECOND), null, { outcome: 'retry', nextAttemptAt: at(e, 2 * MINUTE) });
        assert.deepEqual((await deliverable(at(e, 2 * MINUTE))).map((d) => d.attemptsMade), [2]);
      });

      it('fail a run whose delivery gave up, with the error', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        const now = at(e, SECOND);
        await storage.delivery.recordDeliveryAttempt(anAttempt(run.id, now, 410, 'HTTP 410'), { outcome: 'gave-up', error: 'HTTP 410: Gone' }, now);
        assert.deepEqual(await runOf(run), { ...run, status: 'failed', error: 'HTTP 410: Gone', finishedAt: now });
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('are listed by getRun oldest first, with status code, error and duration', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        const attempts = [
          anAttempt(run.id, at(e, SECOND), null, 'connect ECONNREFUSED', 3),
          anAttempt(run.id, at(e, 31 * SECOND), 503, 'HTTP 503', 40),
          anAttempt(run.id, at(e, 91 * SECOND), 202, null, 12),
        ];
        await storage.delivery.recordDeliveryAttempt(attempts[0], { outcome: 'retry', nextAttemptAt: at(e, 30 * SECOND) }, at(e, SECOND));
        await storage.delivery.recordDeliveryAttempt(attempts[1], { outcome: 'retry', nextAttemptAt: at(e, 90 * SECOND) }, at(e, 31 * SECOND));
        await storage.delivery.recordDeliveryAttempt(attempts[2], { outcome: 'delivered' }, at(e, 91 * SECOND));
        assert.deepEqual(await storage.history.getRun(run.userId, run.scheduleId, run.id), { run: { ...run, status: 'dispatched' }, attempts });
      });

      it('leave a run that already ended as it is', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, SECOND));
        const ended = { ...run, status: 'succeeded', finishedAt: at(e, SECOND) };
        await recordAttempt(run.id, at(e, 2 * SECOND), 202, { outcome: 'delivered' });
        await recordAttempt(run.id, at(e, 3 * SECOND), 200, { outcome: 'completed', status: 'failed', error: 'late' });
        await recordAttempt(run.id, at(e, 4 * SECOND), 500, { outcome: 'gave-up', error: 'HTTP 500' });
        await recordAttempt(run.id, at(e, 5 * SECOND), 500, { outcome: 'retry', nextAttemptAt: at(e, 6 * SECOND) });
        const stored = (await storage.history.getRun(run.userId, run.scheduleId, run.id))!;
        assert.deepEqual(stored.run, ended);
        assert.equal(stored.attempts.length, 4);
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('release the waiting run when a delivery ends the active run, not when it delivers or retries it', async () => {
        const e = newEra();
        const now = at(e, 2 * SECOND);
        const results: Array<[DeliveryResult, boolean]> = [
          [{ outcome: 'delivered' }, false],
          [{ outcome: 'retry', nextAttemptAt: at(e, MINUTE) }, false],
          [{ outcome: 'completed', status: 'succeeded', error: null }, true],
          [{ outcome: 'gave-up', error: 'HTTP 404' }, true],
        ];
        for (const [result, releases] of results) {
          const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
          const first = await dispatchFire(schedule, at(e));
          const waiting = await dispatchFire(schedule, at(e, SECOND));
          await storage.delivery.recordDeliveryAttempt(anAttempt(first.run.id, now, 200), result, now);
          // Released: deliverable from now, timing out a run timeout from now.
          const released = { ...waiting.run, timeoutAt: at(now, 600 * SECOND) };
          const deliveries = (await deliverable(now)).filter((d) => d.run.scheduleId === schedule.id);
          assert.deepEqual(deliveries.map((d) => [d.run, d.attemptsMade]), releases ? [[released, 0]] : [], result.outcome);
          assert.deepEqual(await runOf(waiting.run), releases ? released : waiting.run, result.outcome);
        }
      });

      it('are ignored for a run that no longer exists', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.schedules.deleteSchedule(schedule.userId, schedule.id);
        const now = at(e, SECOND);
        const results: DeliveryResult[] = [
          { outcome: 'delivered' },
          { outcome: 'completed', status: 'failed', error: 'x' },
          { outcome: 'retry', nextAttemptAt: now },
          { outcome: 'gave-up', error: 'x' },
        ];
        for (const result of results) {
          await storage.delivery.recordDeliveryAttempt(anAttempt(run.id, now, 500, 'HTTP 500'), result, now);
          await storage.delivery.recordDeliveryAttempt(anAttempt(uuidv7(), now, 500, 'HTTP 500'), result, now);
        }
        assert.equal(await storage.history.getRun(run.userId, run.scheduleId, run.id), null);
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });
    });

    describe('runtime reports', () => {
      it('apply to a run of any user: running, then a final status with finishedAt', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        const running = { ...run, status: 'running' as const };
        assert.deepEqual(await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, SECOND)), { status: 'applied', run: running });
        assert.deepEqual(await runOf(run), running);
        const succeeded = { ...run, status: 'succeeded' as const, finishedAt: at(e, 2 * SECOND) };
        const outcome = await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 2 * SECOND));
        assert.deepEqual(outcome, { status: 'applied', run: succeeded });
        assert.deepEqual(await runOf(run), succeeded);
      });

      it('keep the error for failed only', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow' });
        const { run: failing } = await dispatchFire(schedule, at(e));
        const { run: succeeding } = await dispatchFire(schedule, at(e, SECOND));
        await storage.delivery.reportRunStatus(failing.id, 'running', 'not an error', at(e, 2 * SECOND));
        assert.deepEqual(await runOf(failing), { ...failing, status: 'running', error: null });
        await storage.delivery.reportRunStatus(failing.id, 'failed', 'the tool crashed', at(e, 3 * SECOND));
        assert.deepEqual(await runOf(failing), { ...failing, status: 'failed', error: 'the tool crashed', finishedAt: at(e, 3 * SECOND) });
        await storage.delivery.reportRunStatus(succeeding.id, 'succeeded', 'not an error', at(e, 4 * SECOND));
        assert.deepEqual(await runOf(succeeding), { ...succeeding, status: 'succeeded', error: null, finishedAt: at(e, 4 * SECOND) });
      });

      it('answer unchanged for the status the run has, and illegal from a final one, writing nothing', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, SECOND));
        const running = { ...run, status: 'running' as const };
        assert.deepEqual(await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, 2 * SECOND)), { status: 'unchanged', run: running });
        await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 3 * SECOND));
        const succeeded = { ...run, status: 'succeeded' as const, finishedAt: at(e, 3 * SECOND) };
        assert.deepEqual(await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 4 * SECOND)), {
          status: 'unchanged',
          run: succeeded,
        });
        assert.deepEqual(await storage.delivery.reportRunStatus(run.id, 'failed', 'late', at(e, 5 * SECOND)), { status: 'illegal', run: succeeded });
        assert.deepEqual(await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, 6 * SECOND)), { status: 'illegal', run: succeeded });
        assert.deepEqual(await runOf(run), succeeded);
        // A record-only run is final from the start.
        const recorded = (await fire(fireWrite(schedule, at(e, 7 * SECOND)))).run;
        const late = await storage.delivery.reportRunStatus(recorded.id, 'running', null, at(e, 8 * SECOND));
        assert.deepEqual(late, { status: 'illegal', run: recorded });
      });

      it('answer not-found for a run that does not exist', async () => {
        assert.deepEqual(await storage.delivery.reportRunStatus(uuidv7(), 'running', null, at(newEra())), { status: 'not-found' });
      });

      it('delete the run’s entry: the runtime has the run, so it is not delivered again', async () => {
        const e = newEra();
        const schedule = await created({});
        const { run } = await dispatchFire(schedule, at(e));
        await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, SECOND));
        assert.deepEqual(await deliverable(at(e, DAY)), []);
      });

      it('release the schedule’s waiting run when the active run ends, not when it starts running', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        const first = await dispatchFire(schedule, at(e));
        const waiting = await dispatchFire(schedule, at(e, SECOND));
        await storage.delivery.reportRunStatus(first.run.id, 'running', null, at(e, 2 * SECOND));
        assert.deepEqual(await deliverable(at(e, 2 * SECOND)), []);
        assert.deepEqual(await runOf(waiting.run), waiting.run);

        const now = at(e, 3 * SECOND);
        await storage.delivery.reportRunStatus(first.run.id, 'failed', 'out of credits', now);
        const released = { ...waiting.run, timeoutAt: at(now, 600 * SECOND) };
        assert.deepEqual(await deliverable(at(now, -1)), []);
        assert.deepEqual(await deliverable(now), [
          { run: released, schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id), session: waiting.session, attemptsMade: 0 },
        ]);
        // The released run is the active one now: the next fire waits behind it, the one after is refused.
        const next = await dispatchFire(schedule, at(e, 4 * SECOND));
        assert.equal(next.run.timeoutAt, null);
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 5 * SECOND)), { status: 'busy', blockingRunId: waiting.run.id });
      });
      it('give a waiting run the runtime reports on a timeout of its own, so that it cannot stay active for ever', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        await dispatchFire(schedule, at(e));
        const waiting = await dispatchFire(schedule, at(e, SECOND));
        assert.equal(waiting.run.timeoutAt, null);
        const now = at(e, 2 * SECOND);
        const outcome = await storage.delivery.reportRunStatus(waiting.run.id, 'running', null, now);
        const running = { ...waiting.run, status: 'running' as const, timeoutAt: at(now, 600 * SECOND) };
        assert.deepEqual(outcome, { status: 'applied', run: running });
        assert.deepEqual(await runOf(waiting.run), running);
        assert.equal(await storage.firing.timeOutRuns(at(now, 600 * SECOND), 10), 2);
      });
    });

    describe('a stateful fire waiting behind the active run (buffer_one)', () => {
      /**
       * A stateful schedule whose run A is dispatched and whose fire B waits; then the runtime, done
       * with A, writes the session back whole: its state S plus A's reply.
       */
      const activeAndWaiting = async (e: number) => {
        const schedule = await created({ stateful: true, overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        const a = fireWrite(schedule, at(e), 'manual', at(e), true);
        await fire(a);
        await recordAttempt(a.run.id, at(e, SECOND), 202, { outcome: 'delivered' });
        const b = fireWrite(schedule, at(e, 2 * SECOND), 'manual', at(e, 2 * SECOND), true);
        const waiting = await fire(b);
        // B's prompt is not in the session yet: the write-back would erase it.
        assert.deepEqual(waiting.session.state.context, [a.message]);
        assert.deepEqual(waiting.session.updatedAt, at(e));
        assert.deepEqual(waiting.run, { ...b.run, sessionId: statefulSessionId(schedule.id), timeoutAt: null });
        assert.deepEqual(await storedSession(storage.history, schedule, a.session.id), waiting.session);
        const state = structuredClone(a.session.state);
        state.summary = 'A is done';
        state.context.push(reply('Done.', 'reply-a'));
        await storage.delivery.putSessionState(a.session.id, state, at(e, 3 * SECOND));
        return { schedule, a, b, state };
      };

      /** B, released at `now`: its prompt follows the state the runtime wrote, and it is delivered with it. */
      const assertReleased = async ({ schedule, b, state }: Awaited<ReturnType<typeof activeAndWaiting>>, now: Date) => {
        const session = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
        assert.deepEqual(session.state, { ...state, context: [...state.context, b.message] });
        assert.deepEqual(session.updatedAt, now);
        const released = { ...b.run, timeoutAt: at(now, 600 * SECOND) };
        assert.deepEqual(await runOf(b.run), released);
        assert.deepEqual(await deliverable(now), [
          { run: released, schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id), session, attemptsMade: 0 },
        ]);
      };

      it('appends its prompt when the active run’s end is reported, after the state the runtime wrote', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const now = at(e, 4 * SECOND);
        await storage.delivery.reportRunStatus(fires.a.run.id, 'succeeded', null, now);
        await assertReleased(fires, now);
      });

      it('appends its prompt when the active run times out', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const now = at(e, 600 * SECOND);
        assert.equal(await storage.firing.timeOutRuns(now, 10), 1);
        await assertReleased(fires, now);
      });

      it('appends its prompt when a delivery result ends the active run', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const now = at(e, 4 * SECOND);
        await recordAttempt(fires.a.run.id, now, 404, { outcome: 'gave-up', error: 'HTTP 404' });
        await assertReleased(fires, now);
      });

      it('appends nothing for a fire skipped behind it', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const { schedule, a } = fires;
        const before = await storedSession(storage.history, schedule, a.session.id);
        assert.deepEqual(await tryDispatchFire(schedule, at(e, 3 * SECOND)), { status: 'busy', blockingRunId: a.run.id });
        assert.deepEqual(await storedSession(storage.history, schedule, a.session.id), before);
        const now = at(e, 4 * SECOND);
        await storage.delivery.reportRunStatus(a.run.id, 'succeeded', null, now);
        await assertReleased(fires, now);
      });

      it('keeps a claimed fire’s prompt too, and a skipped claim appends nothing', async () => {
        const e = newEra();
        const schedule = await created({ stateful: true, overlapPolicy: 'buffer_one', runTimeoutSeconds: 10 * 3600, nextRunAt: at(e) });
        const plans: DueFirePlan[] = [];
        for (const hours of [0, 1, 2]) await claimDispatched(at(e, hours * HOUR), plans);
        const [active, waiting] = plans.map((p) => p.fire!);
        const sessionId = statefulSessionId(schedule.id);
        assert.deepEqual((await storedSession(storage.history, schedule, sessionId))!.state.context, [active.message]);
        assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id))[0].status, 'skipped');
        const state = structuredClone(active.session.state);
        state.context.push(reply('Done.', 'reply-a'));
        await storage.delivery.putSessionState(sessionId, state, at(e, 2 * HOUR));
        const now = at(e, 3 * HOUR);
        await storage.delivery.reportRunStatus(active.run.id, 'failed', 'out of credits', now);
        const session = (await storedSession(storage.history, schedule, sessionId))!;
        assert.deepEqual(session.state.context, [...state.context, waiting.message]);
        assert.deepEqual(session.updatedAt, now);
        assert.deepEqual(await deliverableIds(now), [waiting.run.id]);
      });

      it('appends its prompt within the bound, keeping the newest messages', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const { schedule, a, b } = fires;
        const state = structuredClone(fires.state);
        for (let i = state.context.length; i < CONTRACT_SESSION_MAX_MESSAGES; i++) state.context.push(reply(`reply ${i}`, `reply-${i}`));
        await storage.delivery.putSessionState(a.session.id, state, at(e, 3 * SECOND));
        await storage.delivery.reportRunStatus(a.run.id, 'succeeded', null, at(e, 4 * SECOND));
        const context = (await storedSession(storage.history, schedule, a.session.id))!.state.context;
        assert.deepEqual(context, [...state.context.slice(1), b.message]);
      });

      it('appends its prompt within the byte bound, keeping the newest messages', async () => {
        const e = newEra();
        const fires = await activeAndWaiting(e);
        const { schedule, a, b } = fires;
        const state = structuredClone(fires.state);
        for (let i = 0; i < 3; i++) state.context.push(reply('r'.repeat(3500), `long-reply-${i}`));
        // The written state fits, 100 bytes short of the bound; with B's prompt it does not.
        const filler = CONTRACT_SESSION_MAX_BYTES - 100 - compactBytes(state.context) - compactBytes([reply('', 'filler')]);
        state.context.push(reply('r'.repeat(filler), 'filler'));
        const written = (await storage.delivery.putSessionState(a.session.id, state, at(e, 3 * SECOND)))!.state.context;
        assert.deepEqual(written, state.context);
        assert.ok(compactBytes([...written, b.message]) > CONTRACT_SESSION_MAX_BYTES);
        await storage.delivery.reportRunStatus(a.run.id, 'succeeded', null, at(e, 4 * SECOND));
        const context = (await storedSession(storage.history, schedule, a.session.id))!.state.context;
        assertNewestWithinBounds([...state.context, b.message], context);
        assert.ok(context.length < written.length + 1);
      });

      it('appends its prompt when the runtime reports on it before its release', async () => {
        const e = newEra();
        const { schedule, a, b, state } = await activeAndWaiting(e);
        const now = at(e, 4 * SECOND);
        await storage.delivery.reportRunStatus(b.run.id, 'running', null, now);
        const session = (await storedSession(storage.history, schedule, a.session.id))!;
        assert.deepEqual(session.state.context, [...state.context, b.message]);
        assert.deepEqual(session.updatedAt, now);
        // Its entry is gone: ending A releases nothing more.
        await storage.delivery.reportRunStatus(a.run.id, 'succeeded', null, at(e, 5 * SECOND));
        assert.deepEqual((await storedSession(storage.history, schedule, a.session.id))!.state.context, [...state.context, b.message]);
        assert.deepEqual(await deliverable(at(e, 5 * SECOND)), []);
      });

      it('leaves a non-stateful waiting fire as before: its own session, written when it fires', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        const a = await dispatchFire(schedule, at(e));
        const b = fireWrite(schedule, at(e, SECOND), 'manual', at(e, SECOND), true);
        assert.deepEqual((await fire(b)).session, b.session);
        await storage.delivery.reportRunStatus(a.run.id, 'succeeded', null, at(e, 2 * SECOND));
        assert.deepEqual(await storedSession(storage.history, schedule, b.session.id), b.session);
      });
    });

    describe('time-outs', () => {
      it('end active runs whose timeoutAt has come, at most `limit` per call, and count them', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'allow', runTimeoutSeconds: 1234 });
        const pending = (await dispatchFire(schedule, at(e))).run;
        const dispatched = (await dispatchFire(schedule, at(e, SECOND))).run;
        const running = (await dispatchFire(schedule, at(e, 2 * SECOND))).run;
        const notYet = (await dispatchFire(schedule, at(e, 3 * SECOND))).run;
        await storage.delivery.recordDeliveryAttempt(anAttempt(dispatched.id, at(e, SECOND), 202), { outcome: 'delivered' }, at(e, SECOND));
        await storage.delivery.reportRunStatus(running.id, 'running', null, at(e, 2 * SECOND));
        // The last of the three times out exactly now.
        const now = at(e, 2 * SECOND + 1234 * SECOND);
        assert.deepEqual(running.timeoutAt, now);
        assert.equal(await storage.firing.timeOutRuns(now, 2), 2);
        assert.equal(await storage.firing.timeOutRuns(now, 2), 1);
        assert.equal(await storage.firing.timeOutRuns(now, 2), 0);
        for (const run of [pending, dispatched, running]) {
          const stored = (await runOf(run))!;
          assert.deepEqual(stored, { ...run, status: 'timed_out', error: stored.error, finishedAt: now });
          assert.match(stored.error!, /timed out/i);
          assert.ok(stored.error!.includes('1234'), `the error gives the timeout: ${stored.error}`);
        }
        assert.deepEqual(await runOf(notYet), notYet);
        assert.deepEqual(await deliverableIds(now), [notYet.id]);
      });

      it('leave waiting and ended runs alone', async () => {
        const e = newEra();
        const ended = await created({ runTimeoutSeconds: 60 });
        const { run: endedRun } = await dispatchFire(ended, at(e));
        await storage.delivery.reportRunStatus(endedRun.id, 'succeeded', null, at(e, SECOND));
        const buffered = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 60 });
        await dispatchFire(buffered, at(e, 2 * DAY));
        const { run: waitingRun } = await dispatchFire(buffered, at(e, 2 * DAY + SECOND));
        // By now the ended run's timeoutAt has passed, the waiting run has none, and the active one's is still to come.
        assert.equal(await storage.firing.timeOutRuns(at(e, 2 * DAY + 59 * SECOND), 100), 0);
        assert.deepEqual(await runOf(endedRun), { ...endedRun, status: 'succeeded', finishedAt: at(e, SECOND) });
        assert.deepEqual(await runOf(waitingRun), waitingRun);
      });

      it('delete the timed-out run’s entry and release the schedule’s waiting run', async () => {
        const e = newEra();
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 60 });
        const first = await dispatchFire(schedule, at(e));
        const waiting = await dispatchFire(schedule, at(e, SECOND));
        const now = at(e, MINUTE);
        assert.equal(await storage.firing.timeOutRuns(now, 10), 1);
        assert.equal((await runOf(first.run))!.status, 'timed_out');
        const released = { ...waiting.run, timeoutAt: at(now, MINUTE) };
        assert.deepEqual(await deliverable(now), [
          { run: released, schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id), session: waiting.session, attemptsMade: 0 },
        ]);
        // The released run times out in its turn, a run timeout after its release.
        assert.equal(await storage.firing.timeOutRuns(at(now, MINUTE - 1), 10), 0);
        assert.equal(await storage.firing.timeOutRuns(at(now, MINUTE), 10), 1);
        assert.equal((await runOf(waiting.run))!.status, 'timed_out');
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

    describe('session state', () => {
      it('replaces the state of any user’s session and sets updatedAt', async () => {
        const schedule = await created({});
        const write = fireWrite(schedule, new Date('2026-05-12T09:00:00.000Z'));
        await fire(write);
        const state = structuredClone(write.session.state);
        state.summary = 'Summarised yesterday';
        state.cur_iter = 3;
        state.reply_id = 'reply-1';
        state.context.push(reply('Done.', 'reply-1'));
        state.tasks_context.tasks.push({
          subject: 's',
          description: 'd',
          metadata: {},
          created_at: '2026-05-12T09:00:06Z',
          state: 'completed',
          id: 't1',
          owner: null,
          blocks: [],
          blocked_by: [],
        });
        const now = new Date('2026-05-12T09:00:10.000Z');
        const expected = { ...write.session, state, updatedAt: now };
        assert.deepEqual(await storage.delivery.putSessionState(write.session.id, state, now), expected);
        assert.deepEqual(await storedSession(storage.history, schedule, write.session.id), expected);
      });

      it('answers null for a session that does not exist', async () => {
        const state = fireWrite(aSchedule(), new Date('2026-05-12T09:00:00.000Z')).session.state;
        assert.equal(await storage.delivery.putSessionState(uuidv7(), state, new Date('2026-05-12T09:00:10.000Z')), null);
      });

      it('keeps the newest statefulSessionMaxMessages messages of a longer context, as appends do', async () => {
        const schedule = await created({});
        const first = fireWrite(schedule, new Date('2026-05-12T09:00:00.000Z'));
        await fire(first);
        const state = structuredClone(first.session.state);
        for (let i = 0; i < CONTRACT_SESSION_MAX_MESSAGES + 2; i++) state.context.push(reply(`reply ${i}`, `reply-${i}`));
        const stored = await storage.delivery.putSessionState(first.session.id, state, new Date('2026-05-12T09:00:10.000Z'));
        const kept = state.context.slice(-CONTRACT_SESSION_MAX_MESSAGES);
        assert.deepEqual(stored?.state, { ...state, context: kept });
        assert.deepEqual((await storedSession(storage.history, schedule, first.session.id))?.state.context, kept);
      });

      it('is what the next stateful fire appends to', async () => {
        const schedule = await created({ stateful: true });
        const first = fireWrite(schedule, new Date('2026-05-12T09:00:00.000Z'));
        await fire(first);
        const state = structuredClone(first.session.state);
        state.summary = 'so far';
        state.context.push(reply('Done.', 'reply-1'));
        await storage.delivery.putSessionState(first.session.id, state, new Date('2026-05-12T09:00:10.000Z'));
        const second = fireWrite(schedule, new Date('2026-05-13T09:00:00.000Z'));
        const session = await firedSession(second);
        assert.deepEqual(session.state, { ...state, context: [...state.context, second.message] });
        assert.deepEqual(session.updatedAt, second.firedAt);
      });
    });

    describe(`a stateful session, bounded to about ${CONTRACT_SESSION_MAX_BYTES} bytes of messages`, () => {
      /** A fire of `schedule` at `second`, its prompt carrying a description `length` characters long. */
      const longFire = (schedule: Schedule, second: number, length: number) =>
        fireWrite({ ...schedule, description: 'd'.repeat(length) }, new Date(Date.UTC(2026, 6, 1, 9, 0, second)));

      it('drops the oldest past the byte bound, keeping the newest within it', async () => {
        const schedule = await created({ stateful: true });
        const fires = Array.from({ length: 12 }, (_, i) => longFire(schedule, i, 1500 + (i % 4) * 1100));
        for (const [i, write] of fires.entries()) {
          const session = await firedSession(write);
          assertNewestWithinBounds(fires.slice(0, i + 1).map((f) => f.message), session.state.context);
          assert.deepEqual(session, await storedSession(storage.history, schedule, write.session.id));
        }
        const context = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!.state.context;
        assert.ok(context.length < CONTRACT_SESSION_MAX_MESSAGES, 'the byte bound, not the count, cut it');
        assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, fires.length);
      });

      it('holds both bounds together: many small messages meet the count, a few large ones the bytes', async () => {
        const schedule = await created({ stateful: true });
        const lengths = [...Array<number>(12).fill(20), 6000, 20, 20, 7000, 7000, ...Array<number>(11).fill(20)];
        const fires = lengths.map((length, i) => longFire(schedule, i, length));
        const lengthsKept = [];
        for (const [i, write] of fires.entries()) {
          const session = await firedSession(write);
          assertNewestWithinBounds(fires.slice(0, i + 1).map((f) => f.message), session.state.context);
          lengthsKept.push(session.state.context.length);
        }
        assert.equal(lengthsKept[11], CONTRACT_SESSION_MAX_MESSAGES);
        assert.ok(lengthsKept[16] < CONTRACT_SESSION_MAX_MESSAGES, 'two large messages and their neighbours pass the byte bound');
        assert.equal(lengthsKept.at(-1), CONTRACT_SESSION_MAX_MESSAGES);
      });

      it('keeps a message larger than the bound alone, and drops it for the next', async () => {
        const schedule = await created({ stateful: true });
        const small = longFire(schedule, 0, 100);
        const huge = longFire(schedule, 1, 20_000);
        const after = longFire(schedule, 2, 100);
        await fire(small);
        assert.deepEqual((await firedSession(huge)).state.context, [huge.message]);
        assert.deepEqual((await storedSession(storage.history, schedule, huge.session.id))!.state.context, [huge.message]);
        assert.deepEqual((await firedSession(after)).state.context, [after.message]);
      });

      it('trims a state the runtime writes the same way, and the next fire appends within the bounds', async () => {
        const schedule = await created({ stateful: true });
        const first = longFire(schedule, 0, 100);
        await fire(first);
        const state = structuredClone(first.session.state);
        state.summary = 'long replies';
        for (let i = 0; i < 8; i++) state.context.push(reply('r'.repeat(1000 + i * 500), `reply-${i}`));
        const stored = (await storage.delivery.putSessionState(first.session.id, state, new Date('2026-07-01T09:00:10.000Z')))!;
        assertNewestWithinBounds(state.context, stored.state.context);
        assert.ok(stored.state.context.length < CONTRACT_SESSION_MAX_MESSAGES);
        assert.deepEqual({ ...stored.state, context: [] }, { ...state, context: [] });
        assert.deepEqual(await storedSession(storage.history, schedule, first.session.id), stored);
        const next = longFire(schedule, 20, 4000);
        const session = await firedSession(next);
        assertNewestWithinBounds([...stored.state.context, next.message], session.state.context);
        assert.equal(session.state.summary, 'long replies');
      });

      it('keeps the last message of a written state alone when it is larger than the bound', async () => {
        const schedule = await created({ stateful: true });
        const first = longFire(schedule, 0, 100);
        await fire(first);
        const state = structuredClone(first.session.state);
        const huge = reply('r'.repeat(20_000), 'huge');
        state.context.push(reply('short', 'short'), huge);
        const stored = (await storage.delivery.putSessionState(first.session.id, state, new Date('2026-07-01T09:00:10.000Z')))!;
        assert.deepEqual(stored.state.context, [huge]);
      });
    });

    describe('history pruning', () => {
      // Pruning sees every schedule with a history limit: each test starts with nothing left to prune.
      const pruneAll = async () => {
        let pruned = 0;
        for (let n; (n = await storage.firing.pruneHistory(1000)) > 0; ) pruned += n;
        return pruned;
      };
      const sessionIds = async (s: Schedule) => (await storedSessions(storage.history, s.userId, s.id)).map((x) => x.id);
      const runIds = async (s: Schedule) => (await storage.history.listRunsBySchedule(s.userId, s.id)).map((x) => x.id);
      const fireAt = (s: Schedule, iso: string, overrides: Partial<Schedule> = {}) =>
        fire(fireWrite({ ...s, ...overrides }, new Date(iso)));

      it('keeps the newest `historyLimit` sessions and runs of each schedule, and the list totals count them', async () => {
        await pruneAll();
        const schedule = await created({ historyLimit: 2 });
        // A tie on the second newest: (createdAt, id) and (scheduledFor, id) decide.
        for (const day of ['01', '02', '02', '03']) await fireAt(schedule, `2026-06-${day}T09:00:00.000Z`);
        const sessions = await sessionIds(schedule);
        const runs = await runIds(schedule);
        assert.equal(await storage.firing.pruneHistory(1000), 4);
        assert.deepEqual(await sessionIds(schedule), sessions.slice(0, 2));
        assert.deepEqual(await runIds(schedule), runs.slice(0, 2));
        assert.equal((await storage.history.pageSessionsJson(schedule.userId, schedule.id, { limit: 1 })).total, 2);
        assert.equal((await storage.history.pageRunsBySchedule(schedule.userId, schedule.id, { limit: 1 })).total, 2);
        assert.equal(await storage.firing.pruneHistory(1000), 0);
      });

      it('leaves the history of schedules without a historyLimit alone', async () => {
        await pruneAll();
        const unlimited = await created({ historyLimit: null });
        for (let day = 1; day <= 3; day++) await fireAt(unlimited, `2026-06-0${day}T09:00:00.000Z`);
        const limited = await created({ historyLimit: 1 });
        for (let day = 1; day <= 3; day++) await fireAt(limited, `2026-06-0${day}T09:00:00.000Z`);
        assert.equal(await storage.firing.pruneHistory(1000), 4);
        assert.equal((await sessionIds(unlimited)).length, 3);
        assert.equal((await runIds(unlimited)).length, 3);
        assert.equal((await sessionIds(limited)).length, 1);
      });

      it('never prunes a stateful schedule’s session, which counts among the newest', async () => {
        await pruneAll();
        // Oldest: kept beyond the limit.
        const oldest = await created({ historyLimit: 1 });
        await fireAt(oldest, '2026-06-01T09:00:00.000Z', { stateful: true });
        const newer = (await fireAt(oldest, '2026-06-02T09:00:00.000Z')).session;
        const newest = (await fireAt(oldest, '2026-06-03T09:00:00.000Z')).session;
        // Newest: one of the limit.
        const newestStateful = await created({ historyLimit: 2 });
        const old = (await fireAt(newestStateful, '2026-06-01T09:00:00.000Z')).session;
        const kept = (await fireAt(newestStateful, '2026-06-02T09:00:00.000Z')).session;
        await fireAt(newestStateful, '2026-06-03T09:00:00.000Z', { stateful: true });
        // Sessions: newer, and old; runs: two of the first schedule, one of the second.
        assert.equal(await storage.firing.pruneHistory(1000), 5);
        assert.deepEqual(await sessionIds(oldest), [newest.id, statefulSessionId(oldest.id)]);
        assert.deepEqual(await sessionIds(newestStateful), [statefulSessionId(newestStateful.id), kept.id]);
        assert.equal(await storedSession(storage.history, oldest, newer.id), null);
        assert.equal(await storedSession(storage.history, newestStateful, old.id), null);
        assert.equal((await runIds(oldest)).length, 1);
        assert.equal((await runIds(newestStateful)).length, 2);
      });

      it('never prunes an active run, which counts among the newest', async () => {
        await pruneAll();
        const e = newEra();
        const schedule = await created({ historyLimit: 2, overlapPolicy: 'allow' });
        const runs: Run[] = [];
        for (let i = 0; i < 4; i++) runs.push((await dispatchFire(schedule, at(e, i * SECOND))).run);
        // Newest first: active, ended | ended (pruned), active (kept).
        const [oldestActive, ended, keptEnded, newestActive] = runs;
        await storage.delivery.reportRunStatus(ended.id, 'succeeded', null, at(e, MINUTE));
        await storage.delivery.reportRunStatus(keptEnded.id, 'failed', 'x', at(e, MINUTE));
        assert.equal(await storage.firing.pruneHistory(1000), 3);
        assert.deepEqual(await runIds(schedule), [newestActive.id, keptEnded.id, oldestActive.id]);
        assert.equal((await sessionIds(schedule)).length, 2);
        assert.equal((await storage.history.pageRunsBySchedule(schedule.userId, schedule.id, { limit: 1 })).total, 3);
      });

      it('prunes at most `limit` sessions and runs per call, so that repeated calls finish the job', async () => {
        await pruneAll();
        const schedule = await created({ historyLimit: 1 });
        for (let day = 1; day <= 5; day++) await fireAt(schedule, `2026-06-0${day}T09:00:00.000Z`);
        const [newestSession] = await sessionIds(schedule);
        const [newestRun] = await runIds(schedule);
        const counts = [];
        for (let call = 0; call < 4; call++) counts.push(await storage.firing.pruneHistory(3));
        assert.deepEqual(counts, [3, 3, 2, 0]);
        assert.deepEqual(await sessionIds(schedule), [newestSession]);
        assert.deepEqual(await runIds(schedule), [newestRun]);
      });

      it('deletes the pruned runs’ delivery attempts', async () => {
        await pruneAll();
        const e = newEra();
        const schedule = await created({ historyLimit: 1, overlapPolicy: 'allow' });
        const { run } = await dispatchFire(schedule, at(e));
        await recordAttempt(run.id, at(e, SECOND), 503, { outcome: 'retry', nextAttemptAt: at(e, MINUTE) });
        await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 2 * SECOND));
        await fire(fireWrite(schedule, at(e, 3 * SECOND)));
        assert.equal(await storage.firing.pruneHistory(1000), 2);
        assert.equal(await storage.history.getRun(schedule.userId, schedule.id, run.id), null);
        // A new run under the pruned one's id shows that nothing of it was left behind.
        const reused = fireWrite(schedule, at(e, 4 * SECOND), 'manual', at(e, 4 * SECOND), true);
        reused.run.id = run.id;
        await fire(reused);
        assert.deepEqual(await storage.history.getRun(schedule.userId, schedule.id, run.id), { run: reused.run, attempts: [] });
        assert.deepEqual((await deliverable(at(e, 4 * SECOND))).map((d) => [d.run.id, d.attemptsMade]), [[run.id, 0]]);
      });

      it('may prune the session of an active run, which is then delivered without it', async () => {
        await pruneAll();
        const e = newEra();
        const schedule = await created({ historyLimit: 1, overlapPolicy: 'allow' });
        const older = await dispatchFire(schedule, at(e));
        const newer = await dispatchFire(schedule, at(e, SECOND));
        assert.equal(await storage.firing.pruneHistory(1000), 1);
        const deliveries = await deliverable(at(e, SECOND));
        assert.deepEqual(deliveries.map((d) => [d.run.id, d.session]), [[older.run.id, null], [newer.run.id, newer.session]]);
      });
    });

    describe('delete, with deliveries', () => {
      it('deletes the schedule’s outbox entries and delivery attempts with its runs', async () => {
        const e = newEra();
        const doomed = await created({ overlapPolicy: 'allow' });
        const kept = await created({ userId: doomed.userId });
        const retried = (await dispatchFire(doomed, at(e))).run;
        await recordAttempt(retried.id, at(e, SECOND), 503, { outcome: 'retry', nextAttemptAt: at(e, MINUTE) });
        await dispatchFire(doomed, at(e, 2 * SECOND));
        const keptRun = (await dispatchFire(kept, at(e, 3 * SECOND))).run;
        assert.equal(await storage.schedules.deleteSchedule(doomed.userId, doomed.id), true);
        assert.deepEqual(await deliverableIds(at(e, 4 * SECOND)), [keptRun.id]);
        // A new run under the deleted one's id shows that nothing of it was left behind.
        const successor = await created({ userId: doomed.userId });
        const reused = fireWrite(successor, at(e, 4 * SECOND), 'manual', at(e, 4 * SECOND), true);
        reused.run.id = retried.id;
        await fire(reused);
        assert.deepEqual(await storage.history.getRun(successor.userId, successor.id, retried.id), { run: reused.run, attempts: [] });
        assert.deepEqual((await deliverable(at(e, 4 * SECOND))).map((d) => [d.run.id, d.attemptsMade]), [
          [keptRun.id, 0],
          [retried.id, 0],
        ]);
      });
    });
  });
}
