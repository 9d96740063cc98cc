import assert from 'node:assert/strict';
import { v7 as uuidv7 } from 'uuid';
import { describe, it } from '@jest/globals';
import type { DeliveryResult } from '../../../src/domain/delivery.js';
import { type DueFirePlan, fireWrite, statefulSessionId, timedOutError } from '../../../src/domain/fire.js';
import type { Run } from '../../../src/domain/run.js';
import type { Session } from '../../../src/domain/session.js';
import { aSchedule, succeededAt } from '../../support/builders.js';
import { EMPTY_STATS } from '../../../src/domain/schedule-stats.js';
import { storedSession } from '../../support/stored-sessions.js';
import { anAttempt, assertNewestWithinBounds, at, compactBytes, CONTRACT_SESSION_MAX_BYTES, CONTRACT_SESSION_MAX_MESSAGES, type ContractContext, DAY, HOUR, MINUTE, reply, SECOND } from './contract-context.js';

/** DeliveryStorage: the outbox the dispatcher claims, the attempts it records, and what the runtime reports back. */
export function deliveryContract({ storage, newUser, newEra, fire, firedSession, created, dispatchFire, tryDispatchFire, deliverable, deliverableIds, runOf, recordAttempt, claimDispatched }: ContractContext): void {
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
      await storage.delivery.recordDeliveryAttempts([{ attempt, result: { outcome: 'delivered' } }], at(e, 200));
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
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(run.id, at(e, SECOND), 202), result: { outcome: 'delivered' } }], at(e, 2 * SECOND));
      assert.deepEqual(await runOf(run), { ...run, status: 'running' });
    });

    it('end a run the runtime completed synchronously with its status and error', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      const good = (await dispatchFire(schedule, at(e))).run;
      const bad = (await dispatchFire(schedule, at(e, SECOND))).run;
      const now = at(e, MINUTE);
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(good.id, now, 200), result: { outcome: 'completed', status: 'succeeded', error: null, usage: null } }], now);
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(bad.id, now, 200), result: { outcome: 'completed', status: 'failed', error: 'the model refused', usage: null } }], now);
      assert.deepEqual(await runOf(good), { ...good, status: 'succeeded', error: null, finishedAt: now });
      assert.deepEqual(await runOf(bad), { ...bad, status: 'failed', error: 'the model refused', finishedAt: now });
      assert.deepEqual(await deliverable(at(e, DAY)), []);
    });

    it('keep the usage a synchronous completion reported, exactly, and none for a give-up', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      const priced = (await dispatchFire(schedule, at(e))).run;
      const unpriced = (await dispatchFire(schedule, at(e, SECOND))).run;
      const gaveUp = (await dispatchFire(schedule, at(e, 2 * SECOND))).run;
      const now = at(e, MINUTE);
      const usage = { inputTokens: 1_000_000_000, outputTokens: 12_345, costUsd: 0.0123 };
      await storage.delivery.recordDeliveryAttempts(
        [
          { attempt: anAttempt(priced.id, now, 200), result: { outcome: 'completed', status: 'succeeded', error: null, usage } },
          {
            attempt: anAttempt(unpriced.id, now, 200),
            result: { outcome: 'completed', status: 'failed', error: 'x', usage: { inputTokens: 0, outputTokens: 7, costUsd: null } },
          },
          { attempt: anAttempt(gaveUp.id, now, 400, 'HTTP 400'), result: { outcome: 'gave-up', error: 'HTTP 400' } },
        ],
        now,
      );
      assert.deepEqual((await runOf(priced))?.usage, usage);
      assert.deepEqual((await runOf(unpriced))?.usage, { inputTokens: 0, outputTokens: 7, costUsd: null });
      assert.equal((await runOf(gaveUp))?.usage, null);
    });

    it('make a retried entry available again at nextAttemptAt, unleased, counting the attempt, and not before', async () => {
      const e = newEra();
      const schedule = await created({});
      const { run, session } = await dispatchFire(schedule, at(e));
      await storage.delivery.claimDeliveries(at(e), 10, at(e, 10 * MINUTE));
      const attempt = anAttempt(run.id, at(e, SECOND), 503, 'HTTP 503', 40);
      await storage.delivery.recordDeliveryAttempts([{ attempt, result: { outcome: 'retry', nextAttemptAt: at(e, 30 * SECOND) } }], at(e, SECOND));
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
      await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(run.id, now, 410, 'HTTP 410'), result: { outcome: 'gave-up', error: 'HTTP 410: Gone' } }], now);
      assert.deepEqual(await runOf(run), { ...run, status: 'failed', error: 'HTTP 410: Gone', finishedAt: now, gaveUp: true });
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
      await storage.delivery.recordDeliveryAttempts([{ attempt: attempts[0], result: { outcome: 'retry', nextAttemptAt: at(e, 30 * SECOND) } }], at(e, SECOND));
      await storage.delivery.recordDeliveryAttempts([{ attempt: attempts[1], result: { outcome: 'retry', nextAttemptAt: at(e, 90 * SECOND) } }], at(e, 31 * SECOND));
      await storage.delivery.recordDeliveryAttempts([{ attempt: attempts[2], result: { outcome: 'delivered' } }], at(e, 91 * SECOND));
      assert.deepEqual(await storage.history.getRun(run.userId, run.scheduleId, run.id), { run: { ...run, status: 'dispatched' }, attempts });
    });

    it('leave a run that already ended as it is', async () => {
      const e = newEra();
      const schedule = await created({});
      const { run } = await dispatchFire(schedule, at(e));
      await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, SECOND));
      const ended = { ...run, status: 'succeeded', finishedAt: at(e, SECOND) };
      await recordAttempt(run.id, at(e, 2 * SECOND), 202, { outcome: 'delivered' });
      await recordAttempt(run.id, at(e, 3 * SECOND), 200, { outcome: 'completed', status: 'failed', error: 'late', usage: null });
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
        [{ outcome: 'completed', status: 'succeeded', error: null, usage: null }, true],
        [{ outcome: 'gave-up', error: 'HTTP 404' }, true],
      ];
      for (const [result, releases] of results) {
        const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600 });
        const first = await dispatchFire(schedule, at(e));
        const waiting = await dispatchFire(schedule, at(e, SECOND));
        await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(first.run.id, now, 200), result }], now);
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
        { outcome: 'completed', status: 'failed', error: 'x', usage: null },
        { outcome: 'retry', nextAttemptAt: now },
        { outcome: 'gave-up', error: 'x' },
      ];
      for (const result of results) {
        await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(run.id, now, 500, 'HTTP 500'), result }], now);
        await storage.delivery.recordDeliveryAttempts([{ attempt: anAttempt(uuidv7(), now, 500, 'HTTP 500'), result }], now);
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

    it('keep the usage reported with a final status, and none with running', async () => {
      const e = newEra();
      const schedule = await created({});
      const { run } = await dispatchFire(schedule, at(e));
      const usage = { inputTokens: 1200, outputTokens: 340, costUsd: 0.0123 };
      await storage.delivery.reportRunStatus(run.id, 'running', null, at(e, SECOND), usage);
      assert.equal((await runOf(run))?.usage, null);
      const outcome = await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 2 * SECOND), usage);
      const succeeded = { ...run, status: 'succeeded' as const, finishedAt: at(e, 2 * SECOND), usage };
      assert.deepEqual(outcome, { status: 'applied', run: succeeded });
      assert.deepEqual(await runOf(run), succeeded);
      // A retried report changes nothing, the usage included.
      await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 3 * SECOND), { inputTokens: 1, outputTokens: 1, costUsd: 1 });
      assert.deepEqual(await runOf(run), succeeded);
    });

    it('count the runs in a row that end failed or timed out, however they end, start again at a success, and pause the schedule at its pause_after_failures', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow', pauseAfterFailures: 3, runTimeoutSeconds: 60, nextRunAt: at(e, DAY) });
      const stored = () => storage.schedules.getSchedule(schedule.userId, schedule.id);
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push((await dispatchFire(schedule, at(e, i * SECOND))).run);
      // The runtime reports one failure, then a success: the count starts again.
      await storage.delivery.reportRunStatus(runs[0].id, 'failed', 'x', at(e, 10 * SECOND));
      assert.equal((await stored())?.consecutiveFailures, 1);
      await storage.delivery.reportRunStatus(runs[1].id, 'succeeded', null, at(e, 11 * SECOND));
      assert.equal((await stored())?.consecutiveFailures, 0);
      // A delivery that gave up, a synchronous failure: two in a row; still enabled, as it was.
      await storage.delivery.recordDeliveryAttempts(
        [
          { attempt: anAttempt(runs[2].id, at(e, 12 * SECOND), 400, 'HTTP 400'), result: { outcome: 'gave-up', error: 'HTTP 400' } },
          { attempt: anAttempt(runs[3].id, at(e, 12 * SECOND), 200), result: { outcome: 'completed', status: 'failed', error: 'y', usage: null } },
        ],
        at(e, 12 * SECOND),
      );
      const fired = { ...schedule, lastRunAt: at(e, 4 * SECOND), fireCount: 5 };
      // Its stats count every ending: three failures (the last one's error kept) and a success.
      const stats = { ...succeededAt(at(e, 11 * SECOND)), failed: 3, lastFailureAt: at(e, 12 * SECOND), lastError: 'y' };
      assert.deepEqual(await stored(), { ...fired, consecutiveFailures: 2, stats });
      // The third, a time-out: paused by the policy, with no next fire and a new version.
      const now = at(e, 4 * SECOND + 60 * SECOND);
      assert.equal(await storage.firing.timeOutRuns(now, 10), 1);
      assert.deepEqual(await stored(), {
        ...fired,
        enabled: false,
        pausedReason: 'consecutive_failures',
        nextRunAt: null,
        consecutiveFailures: 3,
        version: schedule.version + 1,
        updatedAt: now,
        stats: { ...stats, timedOut: 1, lastFailureAt: now, lastError: timedOutError(60) },
      });
    });

    it('leave a schedule without a failure policy enabled, counting', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow' });
      for (let i = 0; i < 3; i++) {
        const { run } = await dispatchFire(schedule, at(e, i * SECOND));
        await storage.delivery.reportRunStatus(run.id, 'failed', 'x', at(e, 10 * SECOND));
      }
      assert.deepEqual(await storage.schedules.getSchedule(schedule.userId, schedule.id), {
        ...schedule,
        lastRunAt: at(e, 2 * SECOND),
        fireCount: 3,
        consecutiveFailures: 3,
        stats: { ...EMPTY_STATS, failed: 3, lastFailureAt: at(e, 10 * SECOND), lastError: 'x' },
      });
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

  describe('cancel', () => {
    const eventsOf = async (runId: string, now: Date) => {
      const claimed = (await storage.delivery.claimScheduleEvents(now, 1000, now)).filter((e) => e.event.runId === runId);
      await storage.delivery.recordScheduleEventAttempts(claimed.map((e) => ({ eventId: e.event.id, outcome: 'delivered' })));
      return claimed;
    };

    it('cancels a run not yet delivered: never delivered, nothing told to the runtime', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow', nextRunAt: at(e, DAY) });
      const { run } = await dispatchFire(schedule, at(e));
      const cancelled = await storage.delivery.cancelRun(schedule.userId, schedule.id, run.id, at(e, SECOND));
      assert.equal(cancelled.status, 'cancelled');
      assert.deepEqual([(await runOf(run))?.status, (await runOf(run))?.finishedAt], ['cancelled', at(e, SECOND)]);
      assert.deepEqual(await deliverableIds(at(e, MINUTE)), []);
      assert.deepEqual(await eventsOf(run.id, at(e, MINUTE)), []);
    });

    it('cancels a dispatched run and tells the runtime once; a later report is refused; a final run is final', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow', nextRunAt: at(e, DAY) });
      const { run } = await dispatchFire(schedule, at(e));
      await recordAttempt(run.id, at(e, SECOND), 202, { outcome: 'delivered' });
      assert.equal((await storage.delivery.cancelRun(schedule.userId, schedule.id, run.id, at(e, 2 * SECOND))).status, 'cancelled');
      const events = await eventsOf(run.id, at(e, MINUTE));
      assert.deepEqual(events.map((c) => [c.event.type, c.run?.id, c.run?.status]), [['run.cancelled', run.id, 'cancelled']]);
      assert.equal((await storage.delivery.reportRunStatus(run.id, 'succeeded', null, at(e, 3 * SECOND))).status, 'illegal');
      assert.equal((await storage.delivery.cancelRun(schedule.userId, schedule.id, run.id, at(e, 4 * SECOND))).status, 'final');
      assert.deepEqual(await storage.delivery.cancelRun(newUser(), schedule.id, run.id, at(e, 4 * SECOND)), { status: 'not-found' });
    });

    it('redrives a run whose delivery gave up: pending, a fresh entry deliverable now with no attempt counted; refuses the others', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'allow', runTimeoutSeconds: 600, nextRunAt: at(e, DAY) });
      const gaveUp = await dispatchFire(schedule, at(e));
      const delivered = await dispatchFire(schedule, at(e, SECOND));
      await recordAttempt(gaveUp.run.id, at(e, 2 * SECOND), 400, { outcome: 'gave-up', error: 'HTTP 400' });
      await recordAttempt(delivered.run.id, at(e, 2 * SECOND), 202, { outcome: 'delivered' });
      assert.equal((await runOf(gaveUp.run))?.gaveUp, true);
      const outcomes = await storage.delivery.redriveRuns(schedule.userId, [gaveUp.run.id, delivered.run.id, 'gone'], at(e, MINUTE));
      assert.deepEqual([...outcomes], [[gaveUp.run.id, 'taken'], [delivered.run.id, 'not-given-up'], ['gone', 'not-found']]);
      const again = (await runOf(gaveUp.run))!;
      assert.deepEqual([again.status, again.error, again.finishedAt, again.timeoutAt, again.gaveUp], ['pending', null, null, at(e, MINUTE + 600 * SECOND), false]);
      const [claimed] = (await deliverable(at(e, MINUTE))).filter((d) => d.run.id === gaveUp.run.id);
      assert.equal(claimed.attemptsMade, 0);
      assert.deepEqual([...(await storage.delivery.redriveRuns(newUser(), [gaveUp.run.id], at(e, MINUTE)))], [[gaveUp.run.id, 'not-found']]);
    });

    it('releases the run waiting behind a cancelled one (buffer_one)', async () => {
      const e = newEra();
      const schedule = await created({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 600, nextRunAt: at(e, DAY) });
      const active = await dispatchFire(schedule, at(e));
      const waiting = await dispatchFire(schedule, at(e, SECOND));
      assert.deepEqual(await deliverableIds(at(e, 2 * SECOND)), [active.run.id]);
      await storage.delivery.cancelRun(schedule.userId, schedule.id, active.run.id, at(e, 3 * SECOND));
      assert.deepEqual(await deliverableIds(at(e, 4 * SECOND)), [waiting.run.id]);
    });
  });
}
