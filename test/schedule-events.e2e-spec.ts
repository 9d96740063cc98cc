import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { v7 as uuidv7 } from 'uuid';
import { DISPATCH_DEFAULTS } from '../src/config/app-config.js';
import { ScheduleEventsService } from '../src/dispatch/schedule-events.service.js';
import { Metrics } from '../src/metrics/metrics.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, aWebhookSecret, injectJson } from './support/dispatch.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

/*
 * Schedule events delivered to EVENTS_URL: a real receiver on 127.0.0.1 checks each signature
 * with the secret. The poll loops are off (enabled: false): each test makes a transition through
 * the API, then calls deliverDue() at the manual clock's now. Fires are never delivered, so runs
 * end only as the runtime reports them.
 */

const SECRET = aWebhookSecret();
const RUNTIME_TOKEN = aRuntimeToken();

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** EVENTS_URL's stand-in: answers each request with the next status of its script (then 204). */
class EventReceiver {
  readonly received: Received[] = [];
  statuses: number[] = [];
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hooks/schedule-events`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.received.push({ url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.statuses.shift() ?? 204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const receiver = new EventReceiver();
beforeAll(() => receiver.start());
afterAll(() => receiver.stop());
beforeEach(() => {
  receiver.received.length = 0;
  receiver.statuses = [];
});

describeOnEveryBackend(
  'schedule events',
  (backend: BackendHandle) => {
    let user: string;
    const call = (method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) => injectJson(backend.app, method, url, { 'x-user-id': user }, body);
    const report = (runId: string, body: unknown) =>
      injectJson(backend.app, 'POST', `/runtime/runs/${runId}/status`, { authorization: `Bearer ${RUNTIME_TOKEN}` }, body);
    const deliverDue = () => backend.app.get(ScheduleEventsService).deliverDue();
    async function create(overrides: Record<string, unknown>): Promise<string> {
      user = `user-${uuidv7()}`;
      const res = await call('POST', '/schedule', aCreateBody({ overlap_policy: 'allow', ...overrides }));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    }
    const run = async (id: string, status = 202) => {
      const res = await call('POST', `/schedule/${id}/run`);
      assert.equal(res.status, status, JSON.stringify(res.body));
      return res.body.run?.id as string;
    };
    /** The events received, each verified against the secret. */
    const events = () =>
      receiver.received.map((r) => {
        assert.equal(r.url, '/hooks/schedule-events');
        const body = new Webhook(SECRET).verify(r.body, r.headers as Record<string, string>) as {
          type: string;
          data: { schedule: { id: string; data: { paused_reason: string | null } }; occurred_at: string; resets_at: string | null };
        };
        return { id: r.headers['webhook-id'], ...body };
      });

    it('sends schedule.paused once when the failure policy pauses a schedule, signed, with the schedule as the API shows it', async () => {
      backend.clock.set('2026-04-01T10:00:00.000Z');
      const id = await create({ pause_after_failures: 2 });
      const runs = [await run(id), await run(id)];
      assert.equal(await deliverDue(), 0);
      for (const runId of runs) assert.equal((await report(runId, { status: 'failed', error: 'boom' })).status, 200);
      assert.equal(await deliverDue(), 1);
      const [paused] = events();
      assert.equal(paused.type, 'schedule.paused');
      assert.deepEqual([paused.data.schedule.id, paused.data.schedule.data.paused_reason, paused.data.occurred_at], [id, 'consecutive_failures', '2026-04-01T10:00:00.000Z']);
      assert.equal(await deliverDue(), 0);
      assert.equal(receiver.received.length, 1);
      // The policy's pause is counted once, as its event is first sent.
      const exposition = await backend.app.get(Metrics).exposition();
      assert.match(exposition, /^schedule_pauses_total\{reason="consecutive_failures"\} [1-9]/m);
      assert.match(exposition, /^schedule_event_attempts_total\{type="schedule.paused",outcome="delivered"\} [1-9]/m);
    });

    it('sends schedule.budget_exhausted naming the reset, and schedule.completed at max_runs', async () => {
      backend.clock.set('2026-04-02T10:00:00.000Z');
      const budgeted = await create({ timezone: 'UTC', budget: { period: 'day', max_runs: 1 } });
      await run(budgeted);
      await run(budgeted, 409);
      const done = await create({ max_runs: 1 });
      await run(done);
      assert.equal(await deliverDue(), 2);
      const byType = new Map(events().map((e) => [e.type, e]));
      assert.deepEqual([byType.get('schedule.budget_exhausted')?.data.schedule.id, byType.get('schedule.budget_exhausted')?.data.resets_at], [budgeted, '2026-04-03T00:00:00.000Z']);
      assert.deepEqual([byType.get('schedule.completed')?.data.schedule.id, byType.get('schedule.completed')?.data.schedule.data.paused_reason], [done, 'max_runs_reached']);
    });

    it('tells the runtime of a run its user cancelled (run.cancelled, at its webhook URL); the runtime\'s later report is 409', async () => {
      backend.clock.set('2026-04-04T10:00:00.000Z');
      const id = await create({});
      const runId = await run(id);
      assert.equal((await report(runId, { status: 'running' })).status, 200);
      const cancelled = await call('POST', `/schedule/${id}/runs/${runId}/cancel`);
      assert.deepEqual([cancelled.status, cancelled.body.status], [200, 'cancelled']);
      assert.equal(await deliverDue(), 1);
      const [received] = receiver.received;
      assert.equal(received.url, '/runtime/webhook');
      const body = new Webhook(SECRET).verify(received.body, received.headers as Record<string, string>) as { type: string; data: { run: { id: string; status: string } } };
      assert.deepEqual([body.type, body.data.run.id, body.data.run.status], ['run.cancelled', runId, 'cancelled']);
      assert.equal((await report(runId, { status: 'succeeded' })).status, 409);
      assert.equal((await call('POST', `/schedule/${id}/runs/${runId}/cancel`)).status, 409);
      // One not yet delivered is cancelled without a word to the runtime.
      const undelivered = await run(id);
      assert.equal((await call('POST', `/schedule/${id}/runs/${undelivered}/cancel`)).status, 200);
      assert.equal(await deliverDue(), 0);
    });

    it('replaces a running run under overlap_policy replace: cancelled, the runtime told, the new fire pending', async () => {
      backend.clock.set('2026-04-05T10:00:00.000Z');
      const id = await create({ overlap_policy: 'replace' });
      const first = await run(id);
      assert.equal((await report(first, { status: 'running' })).status, 200);
      const second = await run(id);
      const runs = (await call('GET', `/schedule/${id}/runs`)).body.runs.map((r: { id: string; status: string }) => [r.id, r.status]);
      assert.deepEqual(runs, [[second, 'pending'], [first, 'cancelled']]);
      assert.equal(await deliverDue(), 1);
      const body = JSON.parse(receiver.received[0].body) as { type: string; data: { run: { id: string } } };
      assert.deepEqual([body.type, body.data.run.id], ['run.cancelled', first]);
    });

    it('retries an event the receiver fails, at its time, with the same webhook-id; drops one it refuses for good', async () => {
      backend.clock.set('2026-04-03T10:00:00.000Z');
      const id = await create({ max_runs: 1 });
      await run(id);
      receiver.statuses = [503];
      assert.equal(await deliverDue(), 1);
      assert.equal(await deliverDue(), 0); // not due again yet
      backend.clock.advance(10 * 60_000);
      assert.equal(await deliverDue(), 1);
      const [first, second] = events();
      assert.deepEqual([first.type, second.id], ['schedule.completed', first.id]);
      assert.equal(await deliverDue(), 0);

      const refused = await create({ max_runs: 1 });
      await run(refused);
      receiver.statuses = [410];
      assert.equal(await deliverDue(), 1);
      backend.clock.advance(24 * 3600_000);
      assert.equal(await deliverDue(), 0);
    });
  },
  () => ({
    dispatch: { url: `${receiver.url.replace('/hooks/schedule-events', '/runtime/webhook')}`, eventsUrl: receiver.url, secret: SECRET, ...DISPATCH_DEFAULTS, enabled: false },
    runtimeToken: RUNTIME_TOKEN,
  }),
);
