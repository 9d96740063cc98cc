import assert from 'node:assert/strict';
import { afterEach, describe, it } from '@jest/globals';
import type { ClaimedDelivery, DeliveryRecord } from '../../../src/domain/delivery.js';
import type { DueFirePlan } from '../../../src/domain/fire.js';
import type { LocalDispatcher } from '../../../src/storage/dispatch-hand-off.js';
import { anAttempt, at, type ContractContext, HOUR, MINUTE, SECOND } from './contract-context.js';

/** A dispatcher that takes what it is handed and counts its wake-ups, with `slots` free. */
class FakeDispatcher implements LocalDispatcher {
  readonly taken: ClaimedDelivery[] = [];
  woken = 0;

  constructor(public slots: number) {}

  room(): number {
    return this.slots - this.taken.length;
  }

  leaseUntil(now: Date): Date {
    return at(now, HOUR);
  }

  take(deliveries: ClaimedDelivery[]): void {
    this.taken.push(...deliveries);
  }

  wake(): void {
    this.woken++;
  }
}

/**
 * DispatchHandOff and the batches of DeliveryStorage: how fires reach this process's dispatcher
 * without it looking, how it hears that entries became deliverable, and how its attempts are recorded.
 */
export function handOffContract({ storage, newEra, created, dispatchFire, deliverableIds, runOf, claimDispatched }: ContractContext): void {
  describe('the hand-off to this process’s dispatcher', () => {
    let detach: (() => void) | undefined;
    afterEach(() => detach?.());
    const attached = (slots: number) => {
      const dispatcher = new FakeDispatcher(slots);
      detach = storage.handOff.attach(dispatcher);
      return dispatcher;
    };

    it('hands a claim’s dispatched fires to the dispatcher, up to its free slots, leased, as the webhook sends them', async () => {
      const e = newEra();
      const schedules = [];
      for (let i = 0; i < 3; i++) schedules.push(await created({ overlapPolicy: 'allow', nextRunAt: at(e) }));
      const dispatcher = attached(2);
      const plans: DueFirePlan[] = [];
      await claimDispatched(at(e), plans);
      assert.equal(dispatcher.taken.length, 2);
      for (const delivery of dispatcher.taken) {
        const plan = plans.find((p) => p.scheduleId === delivery.schedule.id)!;
        const stored = await storage.schedules.getSchedule(delivery.schedule.userId, delivery.schedule.id);
        assert.deepEqual(delivery, { run: plan.fire!.run, schedule: stored, session: plan.fire!.session, attemptsMade: 0 });
      }
      assert.equal(dispatcher.woken, 1, 'the one it could not take is deliverable, and it is told');
      // Leased to it: no claim gives them again before the lease ends; the third is anyone's.
      const third = plans.find((p) => !dispatcher.taken.some((d) => d.run.id === p.fire!.run.id))!.fire!.run.id;
      assert.deepEqual(await deliverableIds(at(e, MINUTE)), [third]);
      assert.deepEqual(await deliverableIds(at(e, HOUR - 1)), [third]);
      assert.deepEqual((await deliverableIds(at(e, HOUR))).sort(), plans.map((p) => p.fire!.run.id).sort());
    });

    it('hands a manual fire over the same way, and leaves it deliverable when there is no free slot', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      const dispatcher = attached(1);
      const handed = await dispatchFire(schedule, at(e));
      assert.deepEqual(dispatcher.taken, [
        {
          run: handed.run,
          schedule: await storage.schedules.getSchedule(schedule.userId, schedule.id),
          session: handed.session,
          attemptsMade: 0,
        },
      ]);
      assert.equal(dispatcher.woken, 0);
      const other = await dispatchFire(schedule, at(e, SECOND));
      assert.equal(dispatcher.taken.length, 1);
      assert.equal(dispatcher.woken, 1);
      assert.deepEqual(await deliverableIds(at(e, MINUTE)), [other.run.id]);
    });

    it('never hands a stateful fire (its whole session would have to be read): it is deliverable, and the dispatcher told', async () => {
      const e = newEra();
      const schedule = await created({ stateful: true, overlapPolicy: 'skip' });
      const dispatcher = attached(5);
      const { run } = await dispatchFire(schedule, at(e));
      assert.deepEqual(dispatcher.taken, []);
      assert.equal(dispatcher.woken, 1);
      assert.deepEqual(await deliverableIds(at(e, SECOND)), [run.id]);
    });

    it('hands nothing without a dispatcher attached, and nothing a fire that waits (buffer_one)', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'buffer_one' });
      const active = await dispatchFire(schedule, at(e));
      const dispatcher = attached(5);
      const waiting = await dispatchFire(schedule, at(e, SECOND));
      assert.deepEqual(dispatcher.taken, []);
      assert.equal(dispatcher.woken, 0, 'nothing became deliverable');
      assert.deepEqual(await deliverableIds(at(e, MINUTE)), [active.run.id]);
      // Its release makes it deliverable: the dispatcher is told.
      await storage.delivery.reportRunStatus(active.run.id, 'succeeded', null, at(e, 2 * MINUTE));
      assert.equal(dispatcher.woken, 1);
      assert.deepEqual(await deliverableIds(at(e, 3 * MINUTE)), [waiting.run.id]);
    });

    it('tells the dispatcher when a time-out releases a waiting run', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 60 });
      const active = await dispatchFire(schedule, at(e));
      const waiting = await dispatchFire(schedule, at(e, SECOND));
      const dispatcher = attached(0);
      assert.equal(await storage.firing.timeOutRuns(at(e, 2 * MINUTE), 1000), 1);
      assert.equal(dispatcher.woken, 1);
      assert.equal((await runOf(active.run))!.status, 'timed_out');
      assert.deepEqual(await deliverableIds(at(e, 3 * MINUTE)), [waiting.run.id]);
    });

    it('tells the dispatcher when a recorded ending releases a waiting run, and not for one that releases none', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'buffer_one' });
      const active = await dispatchFire(schedule, at(e));
      const waiting = await dispatchFire(schedule, at(e, SECOND));
      const dispatcher = attached(0);
      const now = at(e, MINUTE);
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(active.run.id, now, 202), result: { outcome: 'delivered' } }], now);
      assert.equal(dispatcher.woken, 0, 'the active run goes on');
      const later = at(now, MINUTE);
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(active.run.id, later, 200), result: { outcome: 'completed', status: 'failed', error: 'out of credits', usage: null } }], later);
      assert.equal(dispatcher.woken, 1);
      assert.deepEqual(await deliverableIds(later), [waiting.run.id]);
    });
  });

  describe('attempts recorded in batches', () => {
    it('records a batch as if each record were recorded alone', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      const runs = [];
      for (let i = 0; i < 4; i++) runs.push((await dispatchFire(schedule, at(e, i * SECOND))).run);
      const now = at(e, MINUTE);
      const records: DeliveryRecord[] = [
        { attempt: anAttempt(runs[0].id, now, 202), result: { outcome: 'delivered' } },
        { attempt: anAttempt(runs[1].id, now, 200), result: { outcome: 'completed', status: 'succeeded', error: null, usage: null } },
        { attempt: anAttempt(runs[2].id, now, 503, 'HTTP 503'), result: { outcome: 'retry', nextAttemptAt: at(now, HOUR) } },
        { attempt: anAttempt(runs[3].id, now, 410, 'HTTP 410'), result: { outcome: 'gave-up', error: 'HTTP 410' } },
      ];
      await storage.delivery.recordDeliveryAttempts(records, now);
      const stored = await Promise.all(runs.map((run) => storage.history.getRun(run.userId, run.scheduleId, run.id)));
      assert.deepEqual(
        stored.map((s) => [s!.run.status, s!.run.error, s!.run.finishedAt, s!.attempts]),
        [
          ['dispatched', null, null, [records[0].attempt]],
          ['succeeded', null, now, [records[1].attempt]],
          ['pending', null, null, [records[2].attempt]],
          ['failed', 'HTTP 410', now, [records[3].attempt]],
        ],
      );
      assert.deepEqual(await deliverableIds(at(now, HOUR - 1)), []);
      const retry = await storage.delivery.claimDeliveries(at(now, HOUR), 10, at(now, 2 * HOUR));
      assert.deepEqual(retry.map((d) => [d.run.id, d.attemptsMade]), [[runs[2].id, 1]]);
    });

    it('records nothing of a run that is gone, and the others of its batch all the same', async () => {
      const e = newEra();
      const doomed = await created({});
      const kept = await created({});
      const gone = (await dispatchFire(doomed, at(e))).run;
      const run = (await dispatchFire(kept, at(e))).run;
      await storage.schedules.deleteSchedule(doomed.userId, doomed.id);
      const now = at(e, SECOND);
      await storage.delivery.recordDeliveryAttempts(
        [
          { attempt: anAttempt(gone.id, now, 202), result: { outcome: 'delivered' } },
          { attempt: anAttempt(run.id, now, 202), result: { outcome: 'delivered' } },
        ],
        now,
      );
      assert.equal(await storage.history.getRun(gone.userId, gone.scheduleId, gone.id), null);
      assert.equal((await runOf(run))!.status, 'dispatched');
    });
  });

  describe('the outbox backlog', () => {
    it('counts the entries deliverable and not taken, of every user, and gives the earliest', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      const first = await dispatchFire(schedule, at(e));
      await dispatchFire(schedule, at(e, SECOND));
      await dispatchFire(schedule, at(e, 10 * SECOND));
      const before = await storage.delivery.outboxBacklog(at(e, -1));
      const now = at(e, 5 * SECOND);
      const backlog = await storage.delivery.outboxBacklog(now);
      // Other tests may have left entries deliverable at older instants: this era's count on top.
      assert.equal(backlog.count - before.count, 2);
      assert.ok(backlog.oldestAvailableAt! <= first.run.firedAt!);
      assert.deepEqual(backlog.oldestAvailableAt, before.oldestAvailableAt ?? first.run.firedAt);
      await storage.delivery.claimDeliveries(now, 1000, at(now, MINUTE));
      assert.deepEqual(await storage.delivery.outboxBacklog(now), { count: 0, oldestAvailableAt: null });
    });
  });
}
