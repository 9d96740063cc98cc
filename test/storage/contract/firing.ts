import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { describe, it } from '@jest/globals';
import { type DueFirePlan, fireWrite, statefulSessionId, unfiredRun } from '../../../src/domain/fire.js';
import type { Run } from '../../../src/domain/run.js';
import { MAX_RUNS_REACHED, type Schedule } from '../../../src/domain/schedule.js';
import { aSchedule, succeededAt } from '../../support/builders.js';
import { EMPTY_STATS } from '../../../src/domain/schedule-stats.js';
import { storedSession, storedSessions } from '../../support/stored-sessions.js';
import { anAttempt, assertNewestWithinBounds, at, CONTRACT_SESSION_MAX_BYTES, CONTRACT_SESSION_MAX_MESSAGES, type ContractContext, DAY, HOUR, MINUTE, reply, SECOND } from './contract-context.js';

/** FiringStorage: fires (by hand and by claim), what they write, the overlap policy, time-outs, pruning and the ticker's bookkeeping. */
export function firingContract({ storage, newUser, newEra, fire, firedSession, created, dispatchFire, tryDispatchFire, deliverable, deliverableIds, runOf, recordAttempt, claimDispatched }: ContractContext): void {
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
      assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', sessionId: write.session.id, run: write.run });
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
        assert.deepEqual(last!.state.context, fires.map((f) => f.message));
      });

      it('drops the oldest past the bound, keeping the newest, at every fire', async () => {
        const schedule = aSchedule({ userId: newUser(), stateful: true });
        await storage.schedules.createSchedule(schedule);
        const fires = statefulFires(schedule, max + 3);
        const returned = [];
        for (const fire of fires) returned.push(await firedSession(fire));
        const stored = (await storedSession(storage.history, schedule, statefulSessionId(schedule.id)))!;
        assert.deepEqual(stored.state.context.map((m) => m.id), fires.slice(3).map((f) => f.message.id));
        assert.deepEqual(
          returned.map((s) => s.state.context.length),
          fires.map((_, i) => Math.min(i + 1, max)),
        );
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
      assert.deepEqual(stored, { ...schedule, lastRunAt: at, fireCount: 1, stats: succeededAt(at) });
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
      assert.deepEqual(await storage.firing.recordFire(again), { status: 'taken' });
      assert.equal(await storedSession(storage.history, schedule, again.session.id), null);
      assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 1);
      // Manual runs are not constrained.
      await storage.firing.recordFire(fireWrite(schedule, slot, 'manual', slot));
      await storage.firing.recordFire(fireWrite(schedule, slot, 'manual', slot));
      assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 3);
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

    it('makes a one-off done once its fire time is claimed, fired or missed: disabled, completed, no next fire, a new version, its event', async () => {
      const now = new Date(newEra());
      const fireAt = new Date(now.getTime() - 1000);
      const [fired, missed] = [0, 1].map(() => due(newUser(), fireAt, { cronExpression: null, fireAt }));
      for (const s of [fired, missed]) await storage.schedules.createSchedule(s);
      const outcomes = await storage.firing.claimDueSchedules(now, 10, (s) =>
        s.id === fired.id
          ? { scheduleId: s.id, fire: fireWrite(s, now, 'cron', fireAt), unfired: [], nextRunAt: null }
          : { scheduleId: s.id, fire: null, unfired: [unfiredRun(s, fireAt, 'missed', 'missed')], nextRunAt: null },
      );
      assert.deepEqual(new Set(outcomes.map((o) => `${o.scheduleId} ${o.status}`)), new Set([`${fired.id} fired`, `${missed.id} fired`]));
      for (const s of [fired, missed]) {
        const stored = (await storage.schedules.getSchedule(s.userId, s.id))!;
        assert.deepEqual([stored.enabled, stored.pausedReason, stored.nextRunAt, stored.version, stored.updatedAt], [false, 'completed', null, 2, now]);
      }
      assert.equal((await storage.schedules.getSchedule(fired.userId, fired.id))?.fireCount, 1);
      const events = (await storage.delivery.claimScheduleEvents(now, 1000, now)).filter((e) => [fired.id, missed.id].includes(e.event.scheduleId));
      assert.deepEqual(events.map((e) => e.event.type), ['schedule.completed', 'schedule.completed']);
      await storage.delivery.recordScheduleEventAttempts(events.map((e) => ({ eventId: e.event.id, outcome: 'delivered' })));
    });

    it('writes a backfill for a fire time once: a second is taken, writing nothing; and says which times are taken', async () => {
      const e = newEra();
      const schedule = due(newUser(), at(e, DAY));
      await storage.schedules.createSchedule(schedule);
      const slot = at(e, HOUR);
      const first = fireWrite(schedule, at(e, 2 * HOUR), 'backfill', slot);
      assert.equal((await storage.firing.recordFire(first)).status, 'fired');
      assert.deepEqual(await storage.firing.recordFire(fireWrite(schedule, at(e, 2 * HOUR), 'backfill', slot)), { status: 'taken' });
      assert.deepEqual([...(await storage.firing.takenFireTimes(schedule.userId, schedule.id, [slot, at(e, 3 * HOUR)]))], [slot.getTime()]);
      assert.deepEqual([...(await storage.firing.takenFireTimes(newUser(), schedule.id, [slot]))], []);
      assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 1);
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
      assert.deepEqual(storedA, {
        ...a,
        nextRunAt: plans.get(a.id)!.nextRunAt,
        lastRunAt: now,
        fireCount: 1,
        stats: { ...succeededAt(now), missed: 1 },
      });
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
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, nextRunAt: next, stats: { ...EMPTY_STATS, missed: 1 } });
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

  describe('record-only and dispatched fires', () => {
    it('writes a record-only fire as succeeded, finished when fired, with nothing to deliver', async () => {
      const e = newEra();
      const schedule = await created({});
      const write = fireWrite(schedule, at(e));
      assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', sessionId: write.session.id, run: write.run });
      assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [
        { ...write.run, status: 'succeeded', error: null, finishedAt: at(e), timeoutAt: null },
      ]);
      assert.deepEqual(await deliverable(at(e, DAY)), []);
    });

    it('writes a dispatched fire as pending, timing out after the run timeout, and delivers it from its fire', async () => {
      const e = newEra();
      const schedule = await created({ runTimeoutSeconds: 900 });
      const write = fireWrite(schedule, at(e), 'manual', at(e), true);
      assert.deepEqual(await storage.firing.recordFire(write), { status: 'fired', sessionId: write.session.id, run: write.run });
      const run = { ...write.run, status: 'pending', error: null, finishedAt: null, timeoutAt: at(e, 900 * SECOND) };
      assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [run]);
      const stored = await storage.schedules.getSchedule(schedule.userId, schedule.id);
      assert.deepEqual(stored, { ...schedule, lastRunAt: at(e), fireCount: 1 });
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
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: at(e), fireCount: 1 });
      assert.deepEqual(await deliverableIds(at(e, DAY)), [first.run.id]);
    });

    it('counts a pending, dispatched or running run as active, and an ended one not', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'skip' });
      const first = await dispatchFire(schedule, at(e));
      const busy = { status: 'busy', blockingRunId: first.run.id };
      assert.deepEqual(await tryDispatchFire(schedule, at(e, 1 * SECOND)), busy);
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(first.run.id, at(e, 2 * SECOND), 202), result: { outcome: 'delivered' } }], at(e, 2 * SECOND));
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
      assert.deepEqual(await claimDispatched(at(e, HOUR), plans), [{ scheduleId: schedule.id, status: 'fired', skipReason: 'overlap' }]);
      const active = plans[0].fire!;
      const skipped = plans[1].fire!;
      const runs = await storage.history.listRunsBySchedule(schedule.userId, schedule.id);
      assert.deepEqual(runs, [
        { ...skipped.run, sessionId: null, firedAt: null, status: 'skipped', error: runs[0].error, skipReason: 'overlap', finishedAt: null, timeoutAt: null },
        active.run,
      ]);
      assert.ok(runs[0].error!.includes(active.run.id), runs[0].error!);
      assert.equal(await storedSession(storage.history, schedule, skipped.session.id), null);
      assert.deepEqual(await storedSessions(storage.history, schedule.userId, schedule.id), [active.session]);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
        ...schedule,
        lastRunAt: at(e),
        nextRunAt: at(e, 2 * HOUR),
        // The skipped fire is no fire.
        fireCount: 1,
        stats: { ...EMPTY_STATS, skipped: 1 },
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
      assert.deepEqual(await storage.firing.recordFire(waiting), { status: 'fired', sessionId: waiting.session.id, run: waitingRun });
      assert.deepEqual(await storage.history.listRunsBySchedule(schedule.userId, schedule.id), [waitingRun, first.run]);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), { ...schedule, lastRunAt: at(e, SECOND), fireCount: 2 });
      assert.deepEqual(await deliverableIds(at(e, DAY)), [first.run.id]);
      // A third is refused, naming the active run (see decideFire).
      const refused = fireWrite(schedule, at(e, 2 * SECOND), 'manual', at(e, 2 * SECOND), true);
      assert.deepEqual(await storage.firing.recordFire(refused), { status: 'busy', blockingRunId: first.run.id });
      assert.equal(await storedSession(storage.history, schedule, refused.session.id), null);
      assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 2);
    });

    it('makes a schedule done at its max_runs-th fire, by hand or claimed: disabled, max_runs_reached, no next fire, a new version; a skipped fire is no fire', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'skip', maxRuns: 3, runTimeoutSeconds: 10 * 3600, nextRunAt: at(e, HOUR) });
      // By hand, then claimed: two fires (the first is still active, so the claimed one is skipped).
      const first = await dispatchFire(schedule, at(e));
      assert.deepEqual(await claimDispatched(at(e, HOUR)), [{ scheduleId: schedule.id, status: 'fired', skipReason: 'overlap' }]);
      const stored = () => storage.schedules.getSchedule(schedule.userId, schedule.id);
      assert.deepEqual(await stored(), { ...schedule, lastRunAt: at(e), nextRunAt: at(e, 2 * HOUR), fireCount: 1, stats: { ...EMPTY_STATS, skipped: 1 } });
      await storage.delivery.reportRunStatus(first.run.id, 'succeeded', null, at(e, HOUR));
      assert.deepEqual(await claimDispatched(at(e, 2 * HOUR)), [{ scheduleId: schedule.id, status: 'fired' }]);
      assert.equal((await stored())?.fireCount, 2);
      assert.equal((await stored())?.enabled, true);
      // The third (a manual one after the claimed run ended) is the last.
      const [claimedRun] = (await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).filter((r) => r.trigger === 'cron' && r.status === 'pending');
      await storage.delivery.reportRunStatus(claimedRun.id, 'succeeded', null, at(e, 2 * HOUR + SECOND));
      await dispatchFire(schedule, at(e, 2 * HOUR + 2 * SECOND));
      assert.deepEqual(await stored(), {
        ...schedule,
        ...MAX_RUNS_REACHED,
        lastRunAt: at(e, 2 * HOUR + 2 * SECOND),
        fireCount: 3,
        version: schedule.version + 1,
        updatedAt: at(e, 2 * HOUR + 2 * SECOND),
        stats: { ...succeededAt(at(e, 2 * HOUR + SECOND), 2), skipped: 1 },
      });
      assert.deepEqual(await claimDispatched(at(e, DAY)), []);
    });

    it('replaces the active run (replace): cancelled, the runtime told when it had it, and the new fire dispatched; by hand or claimed', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'replace', runTimeoutSeconds: 10 * 3600, nextRunAt: at(e, HOUR) });
      const first = await dispatchFire(schedule, at(e));
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(first.run.id, at(e, SECOND), 202), result: { outcome: 'delivered' } }], at(e, SECOND));
      // By hand: the dispatched run is cancelled, and the runtime is to be told.
      const second = await dispatchFire(schedule, at(e, MINUTE));
      assert.deepEqual([(await runOf(first.run))?.status, (await runOf(second.run))?.status], ['cancelled', 'pending']);
      const told = (await storage.delivery.claimScheduleEvents(at(e, MINUTE), 1000, at(e, MINUTE))).filter((c) => c.event.scheduleId === schedule.id);
      assert.deepEqual(told.map((c) => [c.event.type, c.event.runId]), [['run.cancelled', first.run.id]]);
      await storage.delivery.recordScheduleEventAttempts(told.map((c) => ({ eventId: c.event.id, outcome: 'delivered' })));
      // Claimed: the pending one (never delivered) is cancelled without a word; the claimed fire is deliverable.
      assert.deepEqual(await claimDispatched(at(e, HOUR)), [{ scheduleId: schedule.id, status: 'fired' }]);
      assert.equal((await runOf(second.run))?.status, 'cancelled');
      const active = (await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).filter((r) => r.status === 'pending');
      assert.deepEqual(active.map((r) => r.trigger), ['cron']);
      assert.deepEqual(await deliverableIds(at(e, HOUR)), [active[0].id]);
      assert.deepEqual((await storage.delivery.claimScheduleEvents(at(e, HOUR), 1000, at(e, HOUR))).filter((c) => c.event.scheduleId === schedule.id), []);
    });

    it('lets one claimed fire wait (buffer_one) and records the next as skipped', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 10 * 3600, nextRunAt: at(e) });
      const plans: DueFirePlan[] = [];
      for (const hours of [0, 1, 2]) {
        const skipped = hours === 2 ? { skipReason: 'overlap' } : {};
        assert.deepEqual(await claimDispatched(at(e, hours * HOUR), plans), [{ scheduleId: schedule.id, status: 'fired', ...skipped }]);
      }
      const [active, waiting, skipped] = plans.map((p) => p.fire!);
      const runs = await storage.history.listRunsBySchedule(schedule.userId, schedule.id);
      assert.deepEqual(runs, [
        { ...skipped.run, sessionId: null, firedAt: null, status: 'skipped', error: runs[0].error, skipReason: 'overlap', finishedAt: null, timeoutAt: null },
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
        fireCount: 2,
        stats: { ...EMPTY_STATS, skipped: 1 },
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
        assert.deepEqual(await storage.firing.recordFire(recorded), { status: 'fired', sessionId: recorded.session.id, run: recorded.run });
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

  describe('time-outs', () => {
    it('end active runs whose timeoutAt has come, at most `limit` per call, and count them', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow', runTimeoutSeconds: 1234 });
      const pending = (await dispatchFire(schedule, at(e))).run;
      const dispatched = (await dispatchFire(schedule, at(e, SECOND))).run;
      const running = (await dispatchFire(schedule, at(e, 2 * SECOND))).run;
      const notYet = (await dispatchFire(schedule, at(e, 3 * SECOND))).run;
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(dispatched.id, at(e, SECOND), 202), result: { outcome: 'delivered' } }], at(e, SECOND));
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
      assert.equal((await storage.history.pageSessionsJson(schedule.userId, schedule.id, { limit: 1 }))!.total, 2);
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
}
