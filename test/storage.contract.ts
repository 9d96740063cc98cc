import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { aSchedule } from './support/builders.js';
import type { KeysetPosition } from '../src/common/page.js';
import { type DueFirePlan, fireWrite, statefulSessionId, unfiredRun } from '../src/domain/fire.js';
import type { Schedule } from '../src/domain/schedule.js';
import { ValidationFailed } from '../src/common/domain-errors.js';
import type { StorageBase, StorageOptions } from '../src/storage/storage.base.js';

export interface OpenedStorage {
  storage: StorageBase;
  dispose(): Promise<void>;
}

/** The bound on a stateful session's messages the contract's storage is opened with: small, so that tests reach it. */
export const CONTRACT_SESSION_MAX_MESSAGES = 10;

/**
 * The behaviour every StorageBase implementation must have. Each backend's spec calls this once;
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
    let storage: StorageBase;
    beforeAll(async () => {
      opened = await open({ statefulSessionMaxMessages: CONTRACT_SESSION_MAX_MESSAGES });
      storage = opened.storage;
    });
    afterAll(() => opened?.dispose());
    const newUser = () => `user-${uuidv7()}`;

    it('answers a ping', async () => {
      await storage.ping();
    });

    describe('schedules', () => {
      it('round-trips every field', async () => {
        const schedule = aSchedule({ userId: newUser(), endedAt: new Date('2027-01-01T00:00:00.999Z') });
        await storage.createSchedule(schedule);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('says it created the schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        assert.equal(await storage.createSchedule(schedule), true);
        assert.equal(await storage.createSchedule(aSchedule({ userId: schedule.userId }), 2), true);
        assert.equal(await storage.hasSchedule(schedule.userId, schedule.id), true);
      });

      it('creates up to maxPerUser schedules per user, then refuses, writing nothing', async () => {
        const userId = newUser();
        for (let i = 0; i < 3; i++) assert.equal(await storage.createSchedule(aSchedule({ userId }), 3), true);
        const refused = aSchedule({ userId });
        assert.equal(await storage.createSchedule(refused, 3), false);
        assert.equal(await storage.getSchedule(userId, refused.id), null);
        assert.equal((await storage.listSchedules(userId)).length, 3);
        // The limit counts what the user has now, and only theirs.
        assert.equal(await storage.createSchedule(aSchedule({ userId }), 4), true);
        assert.equal(await storage.createSchedule(aSchedule({ userId: newUser() }), 1), true);
        const first = (await storage.listSchedules(userId))[0];
        await storage.deleteSchedule(userId, first.id);
        assert.equal(await storage.createSchedule(refused, 4), true);
        assert.equal((await storage.listSchedules(userId)).length, 4);
      });

      it('lets no concurrent creates of one user past the limit', async () => {
        const userId = newUser();
        const created = await Promise.all(Array.from({ length: 12 }, () => storage.createSchedule(aSchedule({ userId }), 5)));
        assert.equal(created.filter(Boolean).length, 5);
        assert.equal((await storage.listSchedules(userId)).length, 5);
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
        await storage.createSchedule(schedule);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('returns null for a missing schedule and for another user’s', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        assert.equal(await storage.getSchedule(schedule.userId, uuidv7()), null);
        assert.equal(await storage.getSchedule(newUser(), schedule.id), null);
      });

      it('tells whether the user has a schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        assert.equal(await storage.hasSchedule(schedule.userId, schedule.id), true);
        assert.equal(await storage.hasSchedule(schedule.userId, uuidv7()), false);
        assert.equal(await storage.hasSchedule(newUser(), schedule.id), false);
      });

      it('lists only the user’s schedules, newest first, ties broken by id descending', async () => {
        const userId = newUser();
        const t = new Date('2026-05-01T10:00:00.000Z');
        const older = aSchedule({ userId, createdAt: new Date(t.getTime() - 1000) });
        const tieA = aSchedule({ userId, id: `${uuidv7()}`, createdAt: t });
        const tieB = aSchedule({ userId, id: `${uuidv7()}`, createdAt: t });
        for (const s of [tieA, older, tieB]) await storage.createSchedule(s);
        await storage.createSchedule(aSchedule({ userId: newUser() }));
        const ids = (await storage.listSchedules(userId)).map((s) => s.id);
        assert.deepEqual(ids, [tieB.id, tieA.id, older.id]);
        assert.deepEqual(await storage.listSchedules(newUser()), []);
      });

      it('updates every stored field of the user’s schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
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
        const outcome = await storage.updateSchedule(schedule.userId, schedule.id, () => changed);
        assert.deepEqual(outcome, { status: 'updated', schedule: { ...changed, version: 2 } });
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...changed, version: 2 });
      });

      it('writes the nextRunAt the change returns, and lastRunAt never', async () => {
        const nextRunAt = new Date('2026-07-01T09:00:00.000Z');
        const lastRunAt = new Date('2026-06-30T09:00:00.000Z');
        const schedule = aSchedule({ userId: newUser(), nextRunAt, lastRunAt });
        await storage.createSchedule(schedule);
        const moved = { ...schedule, name: 'b', nextRunAt: new Date('2027-01-01T00:00:00.000Z'), lastRunAt: null };
        await storage.updateSchedule(schedule.userId, schedule.id, (current) => ({ ...moved, nextRunAt: current.nextRunAt }));
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...moved, nextRunAt, lastRunAt, version: 2 });
        await storage.updateSchedule(schedule.userId, schedule.id, () => moved);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...moved, lastRunAt, version: 3 });
      });

      it('refuses to update another user’s or a missing schedule, changing nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const change = () => assert.fail('change called for a schedule the user does not have');
        assert.deepEqual(await storage.updateSchedule(newUser(), schedule.id, change), { status: 'not-found' });
        assert.deepEqual(await storage.updateSchedule(schedule.userId, uuidv7(), change), { status: 'not-found' });
        assert.deepEqual(await storage.updateSchedule(schedule.userId, uuidv7(), change, 7), { status: 'not-found' });
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('passes the change a copy: what it mutates before it throws is not stored', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2026-07-01T09:00:00.000Z') });
        await storage.createSchedule(schedule);
        await assert.rejects(
          storage.updateSchedule(schedule.userId, schedule.id, (current) => {
            assert.deepEqual(current, schedule);
            current.name = 'mutated';
            current.chatModelConfig.parameters.temperature = 9;
            throw new Error('refused');
          }),
          /refused/,
        );
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
      });

      it('hands out copies: mutating a returned schedule changes nothing stored', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const copy = (await storage.getSchedule(schedule.userId, schedule.id))!;
        copy.name = 'mutated';
        copy.chatModelConfig.parameters.temperature = 9;
        schedule.name = 'mutated too';
        assert.equal((await storage.getSchedule(schedule.userId, schedule.id))!.name, 'Daily digest');
        assert.equal((await storage.getSchedule(schedule.userId, schedule.id))!.chatModelConfig.parameters.temperature, 0.2);
      });
    });

    describe('schedule versions', () => {
      it('start at 1 and count every update; the outcome is the record as stored', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        assert.equal((await storage.getSchedule(schedule.userId, schedule.id))!.version, 1);
        for (const version of [2, 3, 4]) {
          const outcome = await storage.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: `v${version}` }));
          assert.equal(outcome.status, 'updated');
          const stored = (await storage.getSchedule(schedule.userId, schedule.id))!;
          assert.deepEqual(outcome, { status: 'updated', schedule: stored });
          assert.deepEqual(stored, { ...schedule, name: `v${version}`, version });
        }
      });

      it('are set by the storage: the change cannot set them, nor id, user, creation or last run', async () => {
        const lastRunAt = new Date('2026-06-30T09:00:00.000Z');
        const schedule = aSchedule({ userId: newUser(), lastRunAt });
        await storage.createSchedule(schedule);
        const outcome = await storage.updateSchedule(schedule.userId, schedule.id, (c) => ({
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
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), expected);
      });

      it('update only the expected version: a mismatch writes nothing and does not call the change', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const rename = (name: string) => (c: Schedule) => ({ ...c, name });
        assert.equal((await storage.updateSchedule(schedule.userId, schedule.id, rename('first'), 1)).status, 'updated');
        const stale = await storage.updateSchedule(schedule.userId, schedule.id, () => assert.fail('change called on a mismatch'), 1);
        assert.deepEqual(stale, { status: 'version-mismatch', storedVersion: 2 });
        assert.deepEqual(await storage.updateSchedule(schedule.userId, schedule.id, rename('x'), []), {
          status: 'version-mismatch',
          storedVersion: 2,
        });
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'first', version: 2 });
        assert.equal((await storage.updateSchedule(schedule.userId, schedule.id, rename('second'), [5, 2])).status, 'updated');
        assert.equal((await storage.updateSchedule(schedule.userId, schedule.id, rename('third'))).status, 'updated');
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'third', version: 4 });
      });

      it('write nothing when the change throws, and the error reaches the caller', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2026-07-01T09:00:00.000Z') });
        await storage.createSchedule(schedule);
        const refused = new ValidationFailed([{ field: 'ended_at', message: 'ended_at must be after started_at' }]);
        await assert.rejects(
          storage.updateSchedule(schedule.userId, schedule.id, () => {
            throw refused;
          }),
          (error) => error === refused,
        );
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
        // The storage is still usable: the failed update released what it held.
        await storage.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'after' }), 1);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, name: 'after', version: 2 });
      });

      it('lose no update when many run concurrently, each changing what it reads', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const count = 20;
        const outcomes = await Promise.all(
          Array.from({ length: count }, (_, i) =>
            storage.updateSchedule(schedule.userId, schedule.id, (c) => ({
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
        const stored = (await storage.getSchedule(schedule.userId, schedule.id))!;
        assert.equal(stored.version, count + 1);
        assert.equal(stored.catchupWindowSeconds, schedule.catchupWindowSeconds + count);
        assert.deepEqual(stored.chatModelConfig.parameters, {
          ...schedule.chatModelConfig.parameters,
          ...Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i])),
        });
      });

      it('let exactly one of concurrent updates of one expected version through', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            storage.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: `writer ${i}` }), 1),
          ),
        );
        const winners = outcomes.filter((o) => o.status === 'updated');
        assert.equal(winners.length, 1);
        assert.ok(outcomes.every((o) => o.status === 'updated' || (o.status === 'version-mismatch' && o.storedVersion === 2)));
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), winners[0].schedule);
      });

      it('are not bumped by fires, which an update neither undoes nor is undone by', async () => {
        // Claims see every user's schedules: this one is due long before any claims test's, and
        // the claim parks it (no next run), so that none of them claims it again.
        const now = new Date(Date.UTC(1970, 0, 2));
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date(now.getTime() - 1000) });
        await storage.createSchedule(schedule);
        const fired = new Date('2026-05-09T09:00:00.000Z');
        await storage.recordFire(fireWrite(schedule, fired));
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: fired });
        const claimed = await storage.claimDueSchedules(now, 1000, (s) => ({
          scheduleId: s.id,
          fire: s.id === schedule.id ? fireWrite(s, now, 'cron', s.nextRunAt!) : null,
          unfired: [],
          nextRunAt: s.id === schedule.id ? null : s.nextRunAt,
        }));
        assert.deepEqual(claimed.filter((o) => o.scheduleId === schedule.id), [{ scheduleId: schedule.id, status: 'fired' }]);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, nextRunAt: null, lastRunAt: now });
        const later = new Date('2026-05-10T09:00:00.000Z');
        await Promise.all([
          storage.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, name: 'renamed' })),
          storage.recordFire(fireWrite(schedule, later)),
        ]);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), {
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
        await storage.createSchedule(schedule);
        await storage.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, cronExpression: '0 12 * * *' }));
        const at = new Date('2026-07-01T12:00:00.000Z');
        const set = await storage.setMissingNextRun(schedule.userId, schedule.id, (current) => {
          assert.equal(current.cronExpression, '0 12 * * *');
          return at;
        });
        assert.deepEqual(set, at);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), {
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
        for (const s of [disabled, scheduled]) await storage.createSchedule(s);
        const plan = () => assert.fail('plan called for a schedule that needs none');
        assert.equal(await storage.setMissingNextRun(userId, disabled.id, plan), null);
        assert.equal(await storage.setMissingNextRun(userId, scheduled.id, plan), null);
        assert.equal(await storage.setMissingNextRun(userId, uuidv7(), plan), null);
        const theirs = aSchedule({ userId: newUser(), nextRunAt: null });
        await storage.createSchedule(theirs);
        assert.equal(await storage.setMissingNextRun(userId, theirs.id, plan), null);
        assert.deepEqual(await storage.getSchedule(userId, disabled.id), disabled);
        assert.deepEqual(await storage.getSchedule(userId, scheduled.id), scheduled);
        assert.deepEqual(await storage.getSchedule(theirs.userId, theirs.id), theirs);
      });

      it('writes nothing when the plan finds no time or throws', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: null });
        await storage.createSchedule(schedule);
        assert.equal(await storage.setMissingNextRun(schedule.userId, schedule.id, () => null), null);
        await assert.rejects(
          storage.setMissingNextRun(schedule.userId, schedule.id, () => {
            throw new Error('bad cron');
          }),
          /bad cron/,
        );
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
      });
    });

    describe('sessions', () => {
      it('records a fresh session per fire and lists them newest first, ties broken by id descending', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const t = new Date('2026-05-01T09:00:00.000Z');
        const first = await storage.recordFire(fireWrite(schedule, new Date(t.getTime() - 60_000)));
        const tieA = await storage.recordFire(fireWrite(schedule, t));
        const tieB = await storage.recordFire(fireWrite(schedule, t));
        const listed = await storage.listSessionsBySchedule(schedule.userId, schedule.id);
        const [later, earlier] = tieA!.id > tieB!.id ? [tieA!, tieB!] : [tieB!, tieA!];
        assert.deepEqual(
          listed.map((s) => s.id),
          [later.id, earlier.id, first!.id],
        );
        assert.deepEqual(listed[2], first);
      });

      it('round-trips the whole session record', async () => {
        const schedule = aSchedule({ userId: newUser(), permissionMode: 'accept_edits' });
        await storage.createSchedule(schedule);
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
        const stored = await storage.recordFire(write);
        assert.deepEqual(stored, write.session);
        assert.deepEqual(await storage.getSession(schedule.userId, write.session.id), write.session);
      });

      it('scopes sessions to their user', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const session = (await storage.recordFire(fireWrite(schedule, new Date())))!;
        const stranger = newUser();
        assert.deepEqual(await storage.listSessionsBySchedule(stranger, schedule.id), []);
        assert.equal(await storage.getSession(stranger, session.id), null);
        assert.equal(await storage.getSession(schedule.userId, uuidv7()), null);
      });

      it('appends each stateful fire to one session, keeping its creation time', async () => {
        const schedule = aSchedule({ userId: newUser(), stateful: true });
        await storage.createSchedule(schedule);
        const t1 = new Date('2026-05-03T09:00:00.000Z');
        const t2 = new Date('2026-05-04T09:00:00.000Z');
        const first = await storage.recordFire(fireWrite(schedule, t1));
        const second = await storage.recordFire(fireWrite(schedule, t2));
        assert.equal(first!.id, statefulSessionId(schedule.id));
        assert.equal(second!.id, first!.id);
        const [stored, ...rest] = await storage.listSessionsBySchedule(schedule.userId, schedule.id);
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
        await storage.createSchedule(schedule);
        const fires = Array.from({ length: 8 }, (_, i) => fireWrite(schedule, new Date(Date.UTC(2026, 4, 5, 9, 0, i))));
        await Promise.all(fires.map((fire) => storage.recordFire(fire)));
        const stored = (await storage.getSession(schedule.userId, statefulSessionId(schedule.id)))!;
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
          (await storage.getSession(schedule.userId, statefulSessionId(schedule.id)))!.state.context.map((m) => m.id);

        it('keeps every message up to the bound, in the order appended', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.createSchedule(schedule);
          const fires = statefulFires(schedule, max);
          let last;
          for (const fire of fires) last = await storage.recordFire(fire);
          assert.deepEqual(await contextIds(schedule), fires.map((f) => f.message.id));
          assert.deepEqual(last, await storage.getSession(schedule.userId, statefulSessionId(schedule.id)));
          assert.deepEqual(last!.state.context.at(-1), fires.at(-1)!.message);
        });

        it('drops the oldest past the bound, keeping the newest, and returns the session as stored', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.createSchedule(schedule);
          const fires = statefulFires(schedule, max + 3);
          const returned = [];
          for (const fire of fires) returned.push((await storage.recordFire(fire))!);
          const stored = (await storage.getSession(schedule.userId, statefulSessionId(schedule.id)))!;
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
          assert.equal((await storage.listRunsBySchedule(schedule.userId, schedule.id)).length, max + 3);
        });

        it('loses none of the newest messages when concurrent fires append at the bound', async () => {
          const schedule = aSchedule({ userId: newUser(), stateful: true });
          await storage.createSchedule(schedule);
          const before = statefulFires(schedule, max);
          for (const fire of before) await storage.recordFire(fire);
          const concurrent = statefulFires(schedule, 6, max);
          await Promise.all(concurrent.map((fire) => storage.recordFire(fire)));
          const ids = await contextIds(schedule);
          assert.equal(ids.length, max);
          assert.deepEqual(ids.slice(0, max - 6), before.slice(6).map((f) => f.message.id));
          assert.deepEqual(ids.slice(max - 6).sort(), concurrent.map((f) => f.message.id).sort());
        });

        it('bounds the appends of claimed fires the same way', async () => {
          const now = new Date(Date.UTC(1960, 0, 1));
          const schedule = aSchedule({ userId: newUser(), stateful: true, nextRunAt: new Date(now.getTime() - 1000) });
          await storage.createSchedule(schedule);
          const before = statefulFires(schedule, max);
          for (const fire of before) await storage.recordFire(fire);
          const claimed = fireWrite(schedule, now, 'cron', schedule.nextRunAt!);
          const outcomes = await storage.claimDueSchedules(now, 1000, (s) => ({
            scheduleId: s.id,
            fire: s.id === schedule.id ? claimed : null,
            unfired: [],
            nextRunAt: s.id === schedule.id ? null : s.nextRunAt,
          }));
          assert.deepEqual(outcomes.filter((o) => o.scheduleId === schedule.id), [{ scheduleId: schedule.id, status: 'fired' }]);
          assert.deepEqual(await contextIds(schedule), [...before.slice(1).map((f) => f.message.id), claimed.message.id]);
          const stored = (await storage.getSession(schedule.userId, statefulSessionId(schedule.id)))!;
          assert.deepEqual(stored.state.context.at(-1), claimed.message);
          assert.equal(stored.updatedAt.getTime(), now.getTime());
        });
      });

      it('writes nothing for a fire of a missing or another user’s schedule', async () => {
        const schedule = aSchedule({ userId: newUser() });
        assert.equal(await storage.recordFire(fireWrite(schedule, new Date())), null);
        await storage.createSchedule(schedule);
        const stranger = { ...schedule, userId: newUser() };
        assert.equal(await storage.recordFire(fireWrite(stranger, new Date())), null);
        assert.deepEqual(await storage.listSessionsBySchedule(schedule.userId, schedule.id), []);
        assert.deepEqual(await storage.listSessionsBySchedule(stranger.userId, schedule.id), []);
      });
    });

    describe('runs', () => {
      it('records a fire’s run with the session and sets lastRunAt', async () => {
        const schedule = aSchedule({ userId: newUser(), nextRunAt: new Date('2030-01-01T00:00:00.000Z') });
        await storage.createSchedule(schedule);
        const at = new Date('2026-05-06T09:00:00.000Z');
        const write = fireWrite(schedule, at);
        await storage.recordFire(write);
        assert.deepEqual(await storage.listRunsBySchedule(schedule.userId, schedule.id), [write.run]);
        const stored = (await storage.getSchedule(schedule.userId, schedule.id))!;
        assert.deepEqual(stored, { ...schedule, lastRunAt: at });
      });

      it('lists runs newest first by scheduled time, ties by id, scoped to the user', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const t = new Date('2026-05-07T09:00:00.000Z');
        const early = fireWrite(schedule, new Date(t.getTime() - 1000));
        const tieA = fireWrite(schedule, t);
        const tieB = fireWrite(schedule, t);
        for (const w of [tieA, early, tieB]) await storage.recordFire(w);
        const [later, earlier] = tieA.run.id > tieB.run.id ? [tieA, tieB] : [tieB, tieA];
        assert.deepEqual(
          (await storage.listRunsBySchedule(schedule.userId, schedule.id)).map((r) => r.id),
          [later.run.id, earlier.run.id, early.run.id],
        );
        assert.deepEqual(await storage.listRunsBySchedule(newUser(), schedule.id), []);
      });

      it('refuses a second scheduled run for one schedule and fire time, writing nothing of it', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const slot = new Date('2026-05-08T09:00:00.000Z');
        await storage.recordFire(fireWrite(schedule, slot, 'cron', slot));
        const again = fireWrite(schedule, new Date(slot.getTime() + 5), 'catchup', slot);
        await assert.rejects(storage.recordFire(again));
        assert.equal(await storage.getSession(schedule.userId, again.session.id), null);
        assert.equal((await storage.listRunsBySchedule(schedule.userId, schedule.id)).length, 1);
        // Manual runs are not constrained.
        await storage.recordFire(fireWrite(schedule, slot, 'manual', slot));
        await storage.recordFire(fireWrite(schedule, slot, 'manual', slot));
        assert.equal((await storage.listRunsBySchedule(schedule.userId, schedule.id)).length, 3);
      });
    });

    describe('pages', () => {
      async function scheduleWithHistory(count: number) {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const t = Date.parse('2026-08-01T09:00:00.000Z');
        // Pairs of equal timestamps, so page boundaries fall between ties too.
        for (let i = 0; i < count; i++) await storage.recordFire(fireWrite(schedule, new Date(t + Math.floor(i / 2) * 1000)));
        return schedule;
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
          const sessions = await walk((after) => storage.pageSessionsBySchedule(schedule.userId, schedule.id, { limit, after }));
          assert.deepEqual(sessions, (await storage.listSessionsBySchedule(schedule.userId, schedule.id)).map((s) => s.id));
          const runs = await walk((after) => storage.pageRunsBySchedule(schedule.userId, schedule.id, { limit, after }));
          assert.deepEqual(runs, (await storage.listRunsBySchedule(schedule.userId, schedule.id)).map((r) => r.id));
        });
      }

      it('returns whole records and scopes pages to the user', async () => {
        const schedule = await scheduleWithHistory(3);
        const page = await storage.pageSessionsBySchedule(schedule.userId, schedule.id, { limit: 2 });
        assert.deepEqual(page.items, (await storage.listSessionsBySchedule(schedule.userId, schedule.id)).slice(0, 2));
        assert.deepEqual(page.next, { at: page.items[1].createdAt, id: page.items[1].id });
        assert.deepEqual(await storage.pageSessionsBySchedule(newUser(), schedule.id, { limit: 2 }), { items: [], total: 0, next: null });
        assert.deepEqual(await storage.pageRunsBySchedule(newUser(), schedule.id, { limit: 2 }), { items: [], total: 0, next: null });
      });
    });

    describe('claims', () => {
      // Claims see every user's schedules. Each test claims at its own instant, earlier than any
      // other test's schedules (theirs are after 2000, and the previous claims tests' before its era).
      let era = Date.UTC(1990, 0, 1);
      const newEra = () => (era -= 86_400_000 * 30);
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
        for (const s of [c, future, a, parked, b]) await storage.createSchedule(s);
        const missedAt = new Date(a.nextRunAt!.getTime() - 3_600_000);
        const plans = new Map<string, DueFirePlan>();
        const plan = (s: Schedule) => {
          const p = firePlan(s, now, s.id === a.id ? [missedAt] : []);
          plans.set(s.id, p);
          return p;
        };

        const first = await storage.claimDueSchedules(now, 2, plan);
        assert.deepEqual(first, [
          { scheduleId: a.id, status: 'fired' },
          { scheduleId: b.id, status: 'fired' },
        ]);
        const second = await storage.claimDueSchedules(now, 10, plan);
        assert.deepEqual(second, [{ scheduleId: c.id, status: 'fired' }]);
        assert.deepEqual(await storage.claimDueSchedules(now, 10, plan), []);

        const storedA = (await storage.getSchedule(userId, a.id))!;
        assert.deepEqual(storedA, { ...a, nextRunAt: plans.get(a.id)!.nextRunAt, lastRunAt: now });
        const runsA = await storage.listRunsBySchedule(userId, a.id);
        assert.deepEqual(runsA, [plans.get(a.id)!.fire!.run, plans.get(a.id)!.unfired[0]]);
        const [sessionA] = await storage.listSessionsBySchedule(userId, a.id);
        assert.deepEqual(sessionA, plans.get(a.id)!.fire!.session);
        assert.deepEqual(await storage.getSchedule(userId, future.id), future);
        assert.deepEqual(await storage.listRunsBySchedule(userId, future.id), []);
      });

      it('appends a claimed stateful fire to the stateful session', async () => {
        const now = new Date(newEra());
        const schedule = due(newUser(), new Date(now.getTime() - 1000), { stateful: true });
        await storage.createSchedule(schedule);
        await storage.recordFire(fireWrite(schedule, new Date(now.getTime() - 60_000)));
        await storage.claimDueSchedules(now, 10, (s) => firePlan(s, now));
        const session = (await storage.getSession(schedule.userId, statefulSessionId(schedule.id)))!;
        assert.equal(session.state.context.length, 2);
        assert.equal(session.updatedAt.getTime(), now.getTime());
      });

      it('records only missed runs when the plan has no fire', async () => {
        const now = new Date(newEra());
        const schedule = due(newUser(), new Date(now.getTime() - 86_400_000));
        await storage.createSchedule(schedule);
        const missed = unfiredRun(schedule, schedule.nextRunAt!, 'missed', 'missed');
        const next = new Date(now.getTime() + 1000);
        const outcomes = await storage.claimDueSchedules(now, 10, (s) => ({ scheduleId: s.id, fire: null, unfired: [missed], nextRunAt: next }));
        assert.deepEqual(outcomes, [{ scheduleId: schedule.id, status: 'fired' }]);
        assert.deepEqual(await storage.listRunsBySchedule(schedule.userId, schedule.id), [missed]);
        assert.deepEqual(await storage.listSessionsBySchedule(schedule.userId, schedule.id), []);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, nextRunAt: next });
      });

      it('records a fire the database refuses as a failed run, advances it, and fires the rest', async () => {
        const now = new Date(newEra());
        const userId = newUser();
        const refused = due(userId, new Date(now.getTime() - 2000));
        const fine = due(userId, new Date(now.getTime() - 1000));
        await storage.createSchedule(refused);
        await storage.createSchedule(fine);
        // An earlier run for the same fire time: the unique constraint refuses the duplicate.
        const earlier = fireWrite(refused, refused.nextRunAt!, 'cron', refused.nextRunAt!);
        await storage.recordFire(earlier);
        // A fresh-session fire whose session id is taken: the insert fails.
        const clash = (await storage.recordFire(fireWrite(fine, new Date(now.getTime() - 9000))))!;
        const plans = new Map<string, DueFirePlan>();
        const outcomes = await storage.claimDueSchedules(now, 10, (s) => {
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
        assert.deepEqual(await storage.listRunsBySchedule(userId, refused.id), [earlier.run]);
        assert.equal((await storage.getSchedule(userId, refused.id))!.nextRunAt!.getTime(), plans.get(refused.id)!.nextRunAt!.getTime());
        // The other failure is recorded as a failed run, without a session.
        const [failedRun] = (await storage.listRunsBySchedule(userId, fine.id)).filter((r) => r.trigger === 'cron');
        assert.equal(failedRun.status, 'failed');
        assert.equal(failedRun.sessionId, null);
        assert.ok(failedRun.error);
        assert.equal((await storage.listSessionsBySchedule(userId, fine.id)).length, 1);
        assert.equal((await storage.getSchedule(userId, fine.id))!.nextRunAt!.getTime(), plans.get(fine.id)!.nextRunAt!.getTime());
      });

      it('gives each due schedule to exactly one of several concurrent claimers', async () => {
        const now = new Date(newEra());
        const userId = newUser();
        const schedules = Array.from({ length: 30 }, (_, i) => due(userId, new Date(now.getTime() - i * 1000)));
        for (const s of schedules) await storage.createSchedule(s);
        const claimer = async () => {
          const mine: string[] = [];
          for (;;) {
            const outcomes = await storage.claimDueSchedules(now, 4, (s) => firePlan(s, now));
            if (outcomes.length === 0) return mine;
            mine.push(...outcomes.map((o) => o.scheduleId));
          }
        };
        const claimed = (await Promise.all([claimer(), claimer(), claimer()])).flat();
        assert.deepEqual([...claimed].sort(), schedules.map((s) => s.id).sort());
        for (const s of schedules) {
          assert.equal((await storage.listRunsBySchedule(userId, s.id)).length, 1);
          assert.equal((await storage.listSessionsBySchedule(userId, s.id)).length, 1);
        }
      });

      it('counts the due schedules of every user, and gives the earliest', async () => {
        const now = new Date(newEra());
        const [early, late] = [5000, 1000].map((ms) => due(newUser(), new Date(now.getTime() - ms)));
        const future = due(newUser(), new Date(now.getTime() + 1));
        const parked = due(newUser(), null as unknown as Date);
        for (const s of [late, future, early, parked]) await storage.createSchedule(s);
        assert.deepEqual(await storage.dueBacklog(now), { count: 2, oldestNextRunAt: early.nextRunAt });
        assert.deepEqual(await storage.dueBacklog(new Date(now.getTime() - 3000)), { count: 1, oldestNextRunAt: early.nextRunAt });
        await storage.claimDueSchedules(now, 10, (s) => firePlan(s, now));
        assert.deepEqual(await storage.dueBacklog(now), { count: 0, oldestNextRunAt: null });
      });

      it('lists enabled schedules without a next run, of any user', async () => {
        const userId = newUser();
        const unplanned = aSchedule({ userId, nextRunAt: null });
        const disabled = aSchedule({ userId, nextRunAt: null, enabled: false });
        const planned = aSchedule({ userId, nextRunAt: new Date() });
        for (const s of [unplanned, disabled, planned]) await storage.createSchedule(s);
        const ids = (await storage.listEnabledSchedulesWithoutNextRun(100_000)).map((s) => s.id);
        assert.ok(ids.includes(unplanned.id));
        assert.ok(!ids.includes(disabled.id) && !ids.includes(planned.id));
      });
    });

    describe('delete', () => {
      it('deletes the schedule and the sessions it triggered, nothing else', async () => {
        const userId = newUser();
        const doomed = aSchedule({ userId });
        const kept = aSchedule({ userId });
        await storage.createSchedule(doomed);
        await storage.createSchedule(kept);
        const doomedSession = (await storage.recordFire(fireWrite(doomed, new Date())))!;
        await storage.recordFire(fireWrite({ ...doomed, stateful: true }, new Date()));
        const keptSession = (await storage.recordFire(fireWrite(kept, new Date())))!;

        assert.equal(await storage.deleteSchedule(userId, doomed.id), true);
        assert.equal(await storage.getSchedule(userId, doomed.id), null);
        assert.deepEqual(await storage.listSessionsBySchedule(userId, doomed.id), []);
        assert.equal(await storage.getSession(userId, doomedSession.id), null);
        assert.equal(await storage.getSession(userId, statefulSessionId(doomed.id)), null);
        assert.deepEqual(await storage.getSession(userId, keptSession.id), keptSession);
        assert.deepEqual(await storage.listRunsBySchedule(userId, doomed.id), []);
        assert.equal((await storage.listRunsBySchedule(userId, kept.id)).length, 1);
        assert.deepEqual(await storage.getSchedule(userId, kept.id), { ...kept, lastRunAt: keptSession.createdAt });
        assert.equal(await storage.deleteSchedule(userId, doomed.id), false);
      });

      it('refuses to delete another user’s schedule, deleting nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const session = (await storage.recordFire(fireWrite(schedule, new Date())))!;
        assert.equal(await storage.deleteSchedule(newUser(), schedule.id), false);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: session.createdAt });
        assert.deepEqual(await storage.getSession(schedule.userId, session.id), session);
      });
    });
  });
}
