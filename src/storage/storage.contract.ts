import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { aSchedule } from '../../test/support/builders';
import { fireWrite, statefulSessionId } from '../sessions/schedule-session.factory';
import { StorageBase } from './storage.base';

export interface OpenedStorage {
  storage: StorageBase;
  dispose(): Promise<void>;
}

/**
 * The behaviour every StorageBase implementation must have. Each backend's spec calls this once;
 * `open` returns the storage, or a reason to skip (a database this machine does not have).
 * Tests share one storage and keep apart by using their own user ids.
 */
export function runStorageContract(name: string, open: () => Promise<OpenedStorage | string>): void {
  describe(`${name} storage contract`, async () => {
    const opened = await open();
    if (typeof opened === 'string') {
      it(`skipped: ${opened}`, { skip: opened }, () => undefined);
      return;
    }
    const { storage } = opened;
    after(() => opened.dispose());
    const newUser = () => `user-${uuidv7()}`;

    describe('schedules', () => {
      it('round-trips every field', async () => {
        const schedule = aSchedule({ userId: newUser(), endedAt: new Date('2027-01-01T00:00:00.999Z') });
        await storage.createSchedule(schedule);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
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
        assert.equal(await storage.updateSchedule(changed), true);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), changed);
      });

      it('refuses to update another user’s or a missing schedule, changing nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        assert.equal(await storage.updateSchedule({ ...schedule, userId: newUser(), name: 'stolen' }), false);
        assert.equal(await storage.updateSchedule({ ...schedule, id: uuidv7() }), false);
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
        assert.deepEqual(await storage.getSchedule(userId, kept.id), kept);
        assert.equal(await storage.deleteSchedule(userId, doomed.id), false);
      });

      it('refuses to delete another user’s schedule, deleting nothing', async () => {
        const schedule = aSchedule({ userId: newUser() });
        await storage.createSchedule(schedule);
        const session = (await storage.recordFire(fireWrite(schedule, new Date())))!;
        assert.equal(await storage.deleteSchedule(newUser(), schedule.id), false);
        assert.deepEqual(await storage.getSchedule(schedule.userId, schedule.id), schedule);
        assert.deepEqual(await storage.getSession(schedule.userId, session.id), session);
      });
    });
  });
}
