import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { Budget } from '../../../src/domain/budget.js';
import type { Schedule } from '../../../src/domain/schedule.js';
import { at, type ContractContext, DAY, HOUR, MINUTE, SECOND } from './contract-context.js';

/**
 * The brakes every backend keeps in the transactions that write runs: budgets (fire times in an
 * exhausted period become skipped runs, a manual fire is refused), the period's use, and the
 * events of the transitions.
 */
export function budgetsContract({ storage, newEra, created, dispatchFire, tryDispatchFire, claimDispatched }: ContractContext): void {
  const budget = (limits: Partial<Budget>): Budget => ({ period: 'day', maxRuns: null, maxTokens: null, maxCostUsd: null, ...limits });
  const stored = (s: Schedule) => storage.schedules.getSchedule(s.userId, s.id);

  describe('budgets', () => {
    it('fire up to max_runs in a period, then skip its fire times (budget_exhausted) and refuse manual fires until it resets', async () => {
      const e = newEra(); // a UTC midnight
      const schedule = await created({ timezone: 'UTC', overlapPolicy: 'allow', budget: budget({ maxRuns: 2 }), nextRunAt: at(e, HOUR) });
      // One by hand, one claimed: the period's two runs.
      await dispatchFire(schedule, at(e, 30 * 60 * SECOND));
      assert.deepEqual(await claimDispatched(at(e, HOUR)), [{ scheduleId: schedule.id, status: 'fired' }]);
      const tomorrow = at(e, DAY);
      assert.deepEqual((await stored(schedule))?.budgetExhaustedUntil, tomorrow);
      assert.deepEqual((await stored(schedule))?.stats.period, { startsAt: at(e), runs: 2, inputTokens: 0, outputTokens: 0, costUsd: 0 });

      // The next fire time is recorded as skipped, its next one planned as ever; a manual fire writes nothing.
      assert.deepEqual(await claimDispatched(at(e, 2 * HOUR)), [{ scheduleId: schedule.id, status: 'fired', skipReason: 'budget_exhausted' }]);
      const [skipped] = await storage.history.listRunsBySchedule(schedule.userId, schedule.id);
      assert.deepEqual(
        [skipped.status, skipped.skipReason, skipped.sessionId, skipped.scheduledFor],
        ['skipped', 'budget_exhausted', null, at(e, 2 * HOUR)],
      );
      assert.ok(skipped.error?.includes(tomorrow.toISOString()), skipped.error ?? '');
      assert.deepEqual(await tryDispatchFire(schedule, at(e, 3 * HOUR)), { status: 'budget-exhausted', resetsAt: tomorrow });
      const afterSkip = (await stored(schedule))!;
      assert.deepEqual([afterSkip.fireCount, afterSkip.stats.skipped, afterSkip.enabled, afterSkip.nextRunAt], [2, 1, true, at(e, 3 * HOUR)]);
      assert.equal((await storage.history.listRunsBySchedule(schedule.userId, schedule.id)).length, 3);

      // The next day starts afresh.
      await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, nextRunAt: at(e, DAY + HOUR) }));
      assert.deepEqual(await claimDispatched(at(e, DAY + HOUR)), [{ scheduleId: schedule.id, status: 'fired' }]);
      assert.deepEqual((await stored(schedule))?.stats.period, { startsAt: at(e, DAY), runs: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    });

    it('count reported tokens and cost in the period they are reported in; the runs in flight may overshoot', async () => {
      const e = newEra();
      const schedule = await created({ timezone: 'UTC', overlapPolicy: 'allow', budget: budget({ maxTokens: 100, maxCostUsd: 10 }), nextRunAt: at(e, DAY) });
      const first = await dispatchFire(schedule, at(e, HOUR));
      const second = await dispatchFire(schedule, at(e, HOUR + SECOND));
      await storage.delivery.reportRunStatus(first.run.id, 'succeeded', null, at(e, 2 * HOUR), { inputTokens: 40, outputTokens: 20, costUsd: 1.5 });
      assert.equal((await stored(schedule))?.budgetExhaustedUntil, null);
      // The second, in flight while the budget was open, takes it past the limit.
      await storage.delivery.recordDeliveryAttempts(
        [
          {
            attempt: { runId: second.run.id, at: at(e, 3 * HOUR), statusCode: 200, error: null, durationMs: 5 },
            result: { outcome: 'completed', status: 'failed', error: 'tool crashed', usage: { inputTokens: 30, outputTokens: 25, costUsd: null } },
          },
        ],
        at(e, 3 * HOUR),
      );
      const after = (await stored(schedule))!;
      assert.deepEqual(after.stats.period, { startsAt: at(e), runs: 2, inputTokens: 70, outputTokens: 45, costUsd: 1.5 });
      assert.deepEqual(after.budgetExhaustedUntil, at(e, DAY));
      assert.deepEqual(await tryDispatchFire(schedule, at(e, 4 * HOUR)), { status: 'budget-exhausted', resetsAt: at(e, DAY) });
      // The next day, the fire goes out again.
      assert.equal((await tryDispatchFire(schedule, at(e, DAY))).status, 'fired');
    });

    it('count periods in the schedule’s time zone', async () => {
      const e = newEra();
      // Midnight in Tokyo is 15:00 UTC the day before.
      const schedule = await created({ timezone: 'Asia/Tokyo', overlapPolicy: 'allow', budget: budget({ maxRuns: 1 }), nextRunAt: at(e, 30 * DAY) });
      await dispatchFire(schedule, at(e, 14 * HOUR));
      assert.deepEqual(await tryDispatchFire(schedule, at(e, 15 * HOUR - SECOND)), { status: 'budget-exhausted', resetsAt: at(e, 15 * HOUR) });
      assert.equal((await tryDispatchFire(schedule, at(e, 15 * HOUR))).status, 'fired');
    });

    it('stay out of the way of a schedule without one', async () => {
      const e = newEra();
      const schedule = await created({ timezone: 'UTC', overlapPolicy: 'allow', nextRunAt: at(e, DAY) });
      for (let i = 0; i < 3; i++) await dispatchFire(schedule, at(e, i * SECOND));
      const after = (await stored(schedule))!;
      assert.deepEqual([after.stats.period, after.budgetExhaustedUntil, after.fireCount], [null, null, 3]);
    });
  });

  describe('schedule events', () => {
    /** The schedule's events deliverable at `now`, taken and recorded as delivered. */
    const eventsOf = async (schedule: Schedule, now: Date) => {
      const claimed = (await storage.delivery.claimScheduleEvents(now, 1000, now)).filter((c) => c.event.scheduleId === schedule.id);
      await storage.delivery.recordScheduleEventAttempts(claimed.map((c) => ({ eventId: c.event.id, outcome: 'delivered' })));
      return claimed;
    };
    const summary = (claimed: Awaited<ReturnType<typeof eventsOf>>) => claimed.map((c) => [c.event.type, c.event.occurredAt, c.event.resetsAt]);

    it('are written once per transition the service makes: a budget exhausted (once a period), a policy pause, max runs reached', async () => {
      const e = newEra();
      const schedule = await created({
        timezone: 'UTC',
        overlapPolicy: 'allow',
        budget: budget({ maxRuns: 2 }),
        pauseAfterFailures: 1,
        maxRuns: 3,
        nextRunAt: at(e, HOUR),
      });
      const first = await dispatchFire(schedule, at(e, MINUTE));
      assert.deepEqual(await eventsOf(schedule, at(e, DAY)), []);
      await claimDispatched(at(e, HOUR)); // the period's second run: exhausted
      await claimDispatched(at(e, 2 * HOUR)); // skipped: no second event
      assert.deepEqual(await tryDispatchFire(schedule, at(e, 3 * HOUR)), { status: 'budget-exhausted', resetsAt: at(e, DAY) });
      assert.deepEqual(summary(await eventsOf(schedule, at(e, 3 * HOUR))), [['schedule.budget_exhausted', at(e, HOUR), at(e, DAY)]]);
      // The first run fails: the policy pauses the schedule.
      await storage.delivery.reportRunStatus(first.run.id, 'failed', 'boom', at(e, 4 * HOUR));
      const paused = await eventsOf(schedule, at(e, 4 * HOUR));
      assert.deepEqual(summary(paused), [['schedule.paused', at(e, 4 * HOUR), null]]);
      assert.deepEqual([paused[0].schedule.id, paused[0].schedule.pausedReason, paused[0].schedule.enabled], [schedule.id, 'consecutive_failures', false]);
      // Enabled again by its user (no event), its third fire the next day makes it done.
      await storage.schedules.updateSchedule(schedule.userId, schedule.id, (c) => ({ ...c, enabled: true, pausedReason: null, consecutiveFailures: 0 }));
      await dispatchFire(schedule, at(e, DAY + HOUR));
      assert.deepEqual(summary(await eventsOf(schedule, at(e, DAY + HOUR))), [['schedule.completed', at(e, DAY + HOUR), null]]);
    });

    it('are leased to one claimer, retried at their time with the attempt counted, gone once delivered or given up, and deleted with their schedule', async () => {
      const e = newEra();
      const schedules = await Promise.all([0, 1, 2].map(() => created({ timezone: 'UTC', maxRuns: 1, nextRunAt: at(e, DAY) })));
      for (const s of schedules) await dispatchFire(s, at(e, SECOND));
      const claim = (now: Date, leaseUntil: Date) => storage.delivery.claimScheduleEvents(now, 1000, leaseUntil);
      const mine = (claimed: Awaited<ReturnType<typeof claim>>) => claimed.filter((c) => schedules.some((s) => s.id === c.event.scheduleId));
      const claimed = mine(await claim(at(e, MINUTE), at(e, 2 * MINUTE)));
      assert.deepEqual(claimed.map((c) => [c.event.scheduleId, c.event.type, c.attemptsMade]), schedules.map((s) => [s.id, 'schedule.completed', 0]));
      assert.deepEqual(mine(await claim(at(e, MINUTE), at(e, 2 * MINUTE))), []);
      const [delivered, retried, gaveUp] = claimed.map((c) => c.event.id);
      await storage.delivery.recordScheduleEventAttempts([
        { eventId: delivered, outcome: 'delivered' },
        { eventId: retried, outcome: 'retry', nextAttemptAt: at(e, HOUR) },
        { eventId: gaveUp, outcome: 'gave-up' },
      ]);
      assert.deepEqual(mine(await claim(at(e, HOUR - 1), at(e, HOUR - 1))), []);
      const again = mine(await claim(at(e, HOUR), at(e, HOUR)));
      assert.deepEqual(again.map((c) => [c.event.id, c.attemptsMade]), [[retried, 1]]);
      await storage.schedules.deleteSchedule(schedules[1].userId, schedules[1].id);
      assert.deepEqual(mine(await claim(at(e, DAY), at(e, DAY))), []);
    });
  });
}
