import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { describe, it } from '@jest/globals';
import { ValidationFailed } from '../../../src/common/domain-errors.js';
import { fireWrite, statefulSessionId } from '../../../src/domain/fire.js';
import type { Budget } from '../../../src/domain/budget.js';
import type { Schedule, ScheduleFilter } from '../../../src/domain/schedule.js';
import { aSchedule, succeededAt } from '../../support/builders.js';
import { storedSession, storedSessions } from '../../support/stored-sessions.js';
import { at, type ContractContext, MINUTE, SECOND } from './contract-context.js';

/** ScheduleStorage: the user's schedules, their versions, and what deleting one takes with it. */
export function schedulesContract({ storage, newUser, newEra, fire, firedSession, created, dispatchFire, deliverable, deliverableIds, recordAttempt }: ContractContext): void {
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
      assert.equal((await storage.schedules.listSchedules(userId, { now: new Date() }, null)).items.length, 3);
      // The limit counts what the user has now, and only theirs.
      assert.equal(await storage.schedules.createSchedule(aSchedule({ userId }), 4), true);
      assert.equal(await storage.schedules.createSchedule(aSchedule({ userId: newUser() }), 1), true);
      const first = (await storage.schedules.listSchedules(userId, { now: new Date() }, null)).items[0];
      await storage.schedules.deleteSchedule(userId, first.id);
      assert.equal(await storage.schedules.createSchedule(refused, 4), true);
      assert.equal((await storage.schedules.listSchedules(userId, { now: new Date() }, null)).items.length, 4);
    });

    it('lets no concurrent creates of one user past the limit', async () => {
      const userId = newUser();
      const created = await Promise.all(Array.from({ length: 12 }, () => storage.schedules.createSchedule(aSchedule({ userId }), 5)));
      assert.equal(created.filter(Boolean).length, 5);
      assert.equal((await storage.schedules.listSchedules(userId, { now: new Date() }, null)).items.length, 5);
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
      const ids = (await storage.schedules.listSchedules(userId, { now: new Date() }, null)).items.map((s) => s.id);
      assert.deepEqual(ids, [tieB.id, tieA.id, older.id]);
      assert.deepEqual((await storage.schedules.listSchedules(newUser(), { now: new Date() }, null)).items, []);
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

  describe('put by key', () => {
    const keyed = (userId: string, overrides: Partial<Schedule> = {}) => aSchedule({ userId, key: 'digest', ...overrides });

    it('creates the schedule of a new key, replaces it after (next version, id and creation kept), and writes nothing for an unchanged one', async () => {
      const userId = newUser();
      const first = keyed(userId);
      const created = await storage.schedules.putScheduleByKey(userId, 'digest', (current) => (assert.equal(current, null), first));
      assert.deepEqual(created, { status: 'created', schedule: first });
      const replaced = await storage.schedules.putScheduleByKey(userId, 'digest', (current) => ({ ...current!, id: 'ignored', name: 'renamed' }));
      assert.deepEqual(replaced, { status: 'replaced', schedule: { ...first, name: 'renamed', version: 2 } });
      const unchanged = await storage.schedules.putScheduleByKey(userId, 'digest', (current) => current!);
      assert.deepEqual(unchanged, { status: 'unchanged', schedule: { ...first, name: 'renamed', version: 2 } });
      assert.deepEqual(await storage.schedules.getSchedule(userId, first.id), { ...first, name: 'renamed', version: 2 });
      // Another user's key of the same name is theirs.
      const other = newUser();
      assert.equal((await storage.schedules.putScheduleByKey(other, 'digest', () => keyed(other))).status, 'created');
    });

    it('honours If-Match: one of the versions given, never a creation; and the per-user limit on a creation', async () => {
      const userId = newUser();
      assert.deepEqual(await storage.schedules.putScheduleByKey(userId, 'digest', () => keyed(userId), { expectedVersion: [1] }), {
        status: 'version-mismatch',
        storedVersion: null,
      });
      await storage.schedules.putScheduleByKey(userId, 'digest', () => keyed(userId));
      assert.deepEqual(await storage.schedules.putScheduleByKey(userId, 'digest', (c) => ({ ...c!, name: 'x' }), { expectedVersion: [2, 3] }), {
        status: 'version-mismatch',
        storedVersion: 1,
      });
      assert.equal((await storage.schedules.putScheduleByKey(userId, 'digest', (c) => ({ ...c!, name: 'x' }), { expectedVersion: [1] })).status, 'replaced');
      assert.deepEqual(await storage.schedules.putScheduleByKey(userId, 'other', () => keyed(userId, { key: 'other' }), { maxPerUser: 1 }), {
        status: 'limit-reached',
      });
    });

    it('leaves one schedule of 100 concurrent puts of one key', async () => {
      const userId = newUser();
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, (_, i) => storage.schedules.putScheduleByKey(userId, 'digest', (c) => (c ? { ...c, name: `put ${i}` } : keyed(userId)))),
      );
      assert.equal(outcomes.filter((o) => o.status === 'created').length, 1);
      assert.equal(outcomes.filter((o) => o.status === 'replaced').length, 99);
      const { items } = await storage.schedules.listSchedules(userId, { now: new Date() }, null);
      assert.deepEqual([items.length, items[0].version, items[0].key], [1, 100, 'digest']);
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
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
        ...schedule,
        lastRunAt: fired,
        fireCount: 1,
        stats: succeededAt(fired),
      });
      const claimed = await storage.firing.claimDueSchedules(now, 1000, (s) => ({
        scheduleId: s.id,
        fire: s.id === schedule.id ? fireWrite(s, now, 'cron', s.nextRunAt!) : null,
        unfired: [],
        nextRunAt: s.id === schedule.id ? null : s.nextRunAt,
      }));
      assert.deepEqual(claimed.filter((o) => o.scheduleId === schedule.id), [{ scheduleId: schedule.id, status: 'fired' }]);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
        ...schedule,
        nextRunAt: null,
        lastRunAt: now,
        fireCount: 2,
        stats: succeededAt(now, 2),
      });
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
        fireCount: 3,
        version: 2,
        stats: succeededAt(later, 3),
      });
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
      assert.deepEqual(await storage.schedules.getSchedule(userId, kept.id), {
        ...kept,
        lastRunAt: keptSession.createdAt,
        fireCount: 1,
        stats: succeededAt(keptSession.createdAt),
      });
      assert.equal(await storage.schedules.deleteSchedule(userId, doomed.id), false);
    });

    it('refuses to delete another user’s schedule, deleting nothing', async () => {
      const schedule = aSchedule({ userId: newUser() });
      await storage.schedules.createSchedule(schedule);
      const session = await firedSession(fireWrite(schedule, new Date()));
      assert.equal(await storage.schedules.deleteSchedule(newUser(), schedule.id), false);
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
        ...schedule,
        lastRunAt: session.createdAt,
        fireCount: 1,
        stats: succeededAt(session.createdAt),
      });
      assert.deepEqual(await storedSession(storage.history, schedule, session.id), session);
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

  describe('schedule list filters', () => {
    const budget = (maxRuns: number): Budget => ({ period: 'day', maxRuns, maxTokens: null, maxCostUsd: null });

    it('filter by status and agent, page by keyset, and count every match', async () => {
      const userId = newUser();
      const now = new Date('2026-06-01T12:00:00.000Z');
      const created = (minute: number, overrides: Partial<Schedule>) =>
        aSchedule({ userId, createdAt: new Date(Date.UTC(2026, 4, 1, 0, minute)), nextRunAt: new Date('2026-07-01T00:00:00.000Z'), ...overrides });
      const active = created(1, {});
      const paused = created(2, { enabled: false, pausedReason: 'user', nextRunAt: null });
      const ended = created(3, { endedAt: new Date('2026-05-15T00:00:00.000Z'), nextRunAt: null });
      const failing = created(4, { consecutiveFailures: 2, agentId: 'agent-2' });
      const exhausted = created(5, { budget: budget(1), budgetExhaustedUntil: new Date('2026-06-02T00:00:00.000Z'), agentId: 'agent-2' });
      const wasExhausted = created(6, { budget: budget(1), budgetExhaustedUntil: new Date('2026-06-01T00:00:00.000Z') });
      for (const s of [active, paused, ended, failing, exhausted, wasExhausted]) await storage.schedules.createSchedule(s);
      await storage.schedules.createSchedule(aSchedule({ userId: newUser(), consecutiveFailures: 1 }));

      const ids = async (filter: Omit<ScheduleFilter, 'now'>) => (await storage.schedules.listSchedules(userId, { ...filter, now }, null)).items.map((s) => s.id);
      assert.deepEqual(await ids({}), [wasExhausted, exhausted, failing, ended, paused, active].map((s) => s.id));
      assert.deepEqual(await ids({ status: 'active' }), [wasExhausted, exhausted, failing, active].map((s) => s.id));
      assert.deepEqual(await ids({ status: 'paused' }), [ended, paused].map((s) => s.id));
      assert.deepEqual(await ids({ status: 'failing' }), [failing.id]);
      assert.deepEqual(await ids({ status: 'budget_exhausted' }), [exhausted.id]);
      assert.deepEqual(await ids({ agentId: 'agent-2' }), [exhausted.id, failing.id]);
      assert.deepEqual(await ids({ agentId: 'agent-2', status: 'failing' }), [failing.id]);
      assert.deepEqual(await ids({ agentId: 'nobody' }), []);

      // Pages of two of the active ones: the total counts them all; the last page has no next.
      const first = await storage.schedules.listSchedules(userId, { status: 'active', now }, { limit: 2 });
      assert.deepEqual([first.items.map((s) => s.id), first.total], [[wasExhausted.id, exhausted.id], 4]);
      const second = await storage.schedules.listSchedules(userId, { status: 'active', now }, { limit: 2, after: first.next! });
      assert.deepEqual([second.items.map((s) => s.id), second.total, second.next], [[failing.id, active.id], 4, null]);
    });

    it('filter by labels: key=value, a bare key for any value, every selector at once, with the other filters and pages', async () => {
      const userId = newUser();
      const now = new Date('2026-06-01T12:00:00.000Z');
      const labelled = (minute: number, labels: Record<string, string>, overrides: Partial<Schedule> = {}) =>
        aSchedule({ userId, labels, createdAt: new Date(Date.UTC(2026, 4, 1, 0, minute)), ...overrides });
      const a = labelled(1, { team: 'support', env: 'prod' });
      const b = labelled(2, { team: 'support', env: '' });
      const c = labelled(3, { team: 'sales', 'example.com/tier': 'gold' }, { consecutiveFailures: 1 });
      const d = labelled(4, {});
      for (const s of [a, b, c, d]) await storage.schedules.createSchedule(s);
      assert.deepEqual((await storage.schedules.getSchedule(userId, c.id))?.labels, { team: 'sales', 'example.com/tier': 'gold' });
      const ids = async (labels: Array<{ key: string; value: string | null }>, status?: ScheduleFilter['status']) =>
        (await storage.schedules.listSchedules(userId, { labels, status, now }, null)).items.map((s) => s.id);
      assert.deepEqual(await ids([{ key: 'team', value: 'support' }]), [b.id, a.id]);
      assert.deepEqual(await ids([{ key: 'env', value: null }]), [b.id, a.id]);
      assert.deepEqual(await ids([{ key: 'env', value: '' }]), [b.id]);
      assert.deepEqual(await ids([{ key: 'team', value: 'support' }, { key: 'env', value: 'prod' }]), [a.id]);
      assert.deepEqual(await ids([{ key: 'example.com/tier', value: 'gold' }]), [c.id]);
      assert.deepEqual(await ids([{ key: 'team', value: null }], 'failing'), [c.id]);
      assert.deepEqual(await ids([{ key: 'nope', value: null }]), []);
      const page = await storage.schedules.listSchedules(userId, { labels: [{ key: 'team', value: null }], now }, { limit: 2 });
      assert.deepEqual([page.items.map((s) => s.id), page.total], [[c.id, b.id], 3]);
      const rest = await storage.schedules.listSchedules(userId, { labels: [{ key: 'team', value: null }], now }, { limit: 2, after: page.next! });
      assert.deepEqual([rest.items.map((s) => s.id), rest.next], [[a.id], null]);
    });
  });
}
