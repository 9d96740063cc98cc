import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_OBSERVABILITY, DISPATCH_DEFAULTS } from '../src/config/app-config.js';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { DispatchMode } from '../src/config/dispatch-mode.js';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import { Metrics } from '../src/metrics/metrics.js';
import { FiringStorage } from '../src/storage/ports/firing.storage.js';
import { aCreateBody } from './support/builders.js';
import { createTestApp, describeOnEveryBackend, type TestApp } from './support/test-app.js';

// GET /metrics scraped and parsed after requests, ticks and deliveries: every check compares two
// scrapes, so the tests of one suite (one app) do not depend on each other's counts.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  /** Metric family name → its TYPE. */
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

/** The Prometheus text format (0.0.4), strictly: a line that is none of HELP, TYPE or a sample fails. */
function parseExposition(text: string): Exposition {
  const exposition: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment;
      (kind === 'TYPE' ? exposition.types : exposition.help).set(name, rest);
      continue;
    }
    const sample = SAMPLE_LINE.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const [, name, labelText = '', valueText] = sample;
    const labels: Record<string, string> = {};
    let parsed = 0;
    for (const pair of labelText.matchAll(LABEL_PAIR)) {
      assert.equal(pair.index, parsed, `bad labels: ${line}`);
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      parsed += pair[0].length;
    }
    assert.equal(parsed, labelText.length, `bad labels: ${line}`);
    // Prometheus reads floats as Go does: NaN in any case (prom-client writes `Nan`).
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : /^nan$/i.test(valueText) ? NaN : Number(valueText);
    assert.ok(/^nan$/i.test(valueText) || !Number.isNaN(value), `bad value: ${line}`);
    const family = exposition.types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(exposition.types.has(family), `sample before its TYPE: ${line}`);
    exposition.samples.push({ name, labels, value });
  }
  return exposition;
}

/** The one sample with this name and these labels (among others), or 0 when there is none yet. */
function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  assert.ok(found.length <= 1, `${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

async function scrape(app: TestApp['app']): Promise<Exposition> {
  const res = await request(app.getHttpServer()).get('/metrics').expect(200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.text);
}

/** How much each sample moved between two scrapes. */
function delta(before: Exposition, after: Exposition) {
  return (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
}

describeOnEveryBackend('metrics', (backend) => {
  const { clock } = backend;
  const http = () => request(backend.app.getHttpServer());
  const tick = () => backend.app.get(SchedulerService).tick();

  /** A schedule of a new user, and its next_run_at. */
  async function create(overrides: Record<string, unknown>): Promise<{ userId: string; id: string; nextRunAt: string }> {
    const userId = `user-${uuidv7()}`;
    const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
    const id: string = created.body.schedule_id;
    const { next_run_at: nextRunAt } = (await http().get(`/schedule/${id}`).set('x-user-id', userId).expect(200)).body;
    return { userId, id, nextRunAt };
  }
  const remove = (s: { userId: string; id: string }) => http().delete(`/schedule/${s.id}`).set('x-user-id', s.userId).expect(204);

  it('serves the process metrics and every family of the service, with HELP and TYPE', async () => {
    const { types, help } = await scrape(backend.app);
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['http_request_duration_seconds', 'histogram'],
      ['schedule_fires_total', 'counter'],
      ['schedule_skips_total', 'counter'],
      ['schedule_pauses_total', 'counter'],
      ['schedule_fire_lag_seconds', 'histogram'],
      ['schedule_due_backlog', 'gauge'],
      ['schedule_claim_batch_duration_seconds', 'histogram'],
      ['dispatch_attempts_total', 'counter'],
      ['dispatch_delivery_duration_seconds', 'histogram'],
    ]) {
      assert.equal(types.get(name), type, name);
      assert.ok((help.get(name) ?? '').length > 10, `HELP of ${name}`);
    }
  });

  it('times requests by route template, method and status; unmatched paths share one label', async () => {
    const before = await scrape(backend.app);
    const userId = `user-${uuidv7()}`;
    for (let i = 0; i < 3; i++) await http().get('/schedule').set('x-user-id', userId).expect(200);
    await http().get(`/schedule/${uuidv7()}`).set('x-user-id', userId).expect(404);
    await http().get(`/schedule/${uuidv7()}`).set('x-user-id', userId).expect(404);
    const randomPath = `/no-such-route/${uuidv7()}`;
    await http().get(randomPath).expect(404);
    const after = await scrape(backend.app);
    const moved = delta(before, after);

    const requests = (route: string, method: string, status: string) => ({ route, method, status_code: status });
    assert.equal(moved('http_request_duration_seconds_count', requests('/schedule', 'GET', '200')), 3);
    assert.equal(moved('http_request_duration_seconds_bucket', { ...requests('/schedule', 'GET', '200'), le: '+Inf' }), 3);
    assert.ok(moved('http_request_duration_seconds_sum', requests('/schedule', 'GET', '200')) > 0);
    assert.equal(moved('http_request_duration_seconds_count', requests('/schedule/:schedule_id', 'GET', '404')), 2);
    assert.equal(moved('http_request_duration_seconds_count', requests('unmatched', 'GET', '404')), 1);
    assert.ok(!after.samples.some((s) => Object.values(s.labels).some((v) => v.includes('no-such-route'))));
    // Scrapes are not counted.
    assert.ok(!after.samples.some((s) => s.labels.route === '/metrics'));
  });

  it('counts a cron fire by trigger and status and observes its lag; times the claim', async () => {
    clock.set('2026-03-02T08:10:00.000Z');
    const schedule = await create({ cron_expression: '0 * * * *', timezone: 'UTC' });
    assert.equal(schedule.nextRunAt, '2026-03-02T09:00:00.000Z');
    const before = await scrape(backend.app);
    clock.set('2026-03-02T09:00:03.000Z'); // 3 s late
    assert.equal(await tick(), 1);
    const after = await scrape(backend.app);
    const moved = delta(before, after);

    assert.equal(moved('schedule_fires_total', { trigger: 'cron', status: 'succeeded' }), 1);
    assert.equal(moved('schedule_fires_total', { trigger: 'catchup', status: 'succeeded' }), 0);
    assert.equal(moved('schedule_fire_lag_seconds_count'), 1);
    assert.equal(moved('schedule_fire_lag_seconds_sum'), 3);
    assert.equal(moved('schedule_fire_lag_seconds_bucket', { le: '2.5' }), 0);
    assert.equal(moved('schedule_fire_lag_seconds_bucket', { le: '5' }), 1);
    // Two claims in flight (SCHEDULER_CLAIMS_IN_FLIGHT's default): one fired it, the other found nothing.
    assert.equal(moved('schedule_claim_batch_duration_seconds_count'), 2);
    assert.equal(valueOf(after, 'schedule_due_backlog'), 0);
    await remove(schedule);
  });

  it('counts the missed fire times and the catch-up fire of a late tick', async () => {
    clock.set('2026-03-02T10:00:30.000Z');
    const schedule = await create({ cron_expression: '* * * * *', timezone: 'UTC', catchup_window_seconds: 60 });
    assert.equal(schedule.nextRunAt, '2026-03-02T10:01:00.000Z');
    const before = await scrape(backend.app);
    // 10:01 and 10:02 are older than the window: missed; 10:03 fires, 30 s late, as a catch-up.
    clock.set('2026-03-02T10:03:30.000Z');
    await tick();
    const moved = delta(before, await scrape(backend.app));

    assert.equal(moved('schedule_fires_total', { trigger: 'cron', status: 'missed' }), 2);
    assert.equal(moved('schedule_fires_total', { trigger: 'catchup', status: 'succeeded' }), 1);
    assert.equal(moved('schedule_fires_total', { trigger: 'cron', status: 'succeeded' }), 0);
    assert.equal(moved('schedule_fire_lag_seconds_count'), 1);
    assert.equal(moved('schedule_fire_lag_seconds_bucket', { le: '10' }), 0);
    assert.equal(moved('schedule_fire_lag_seconds_bucket', { le: '30' }), 1);
    await remove(schedule);
  });

  it('counts the fire times a budget skips, cron ones as skipped runs and manual ones refused, by skip_reason', async () => {
    clock.set('2026-03-02T11:00:30.000Z');
    const schedule = await create({ cron_expression: '0 * * * *', timezone: 'UTC', budget: { period: 'day', max_runs: 1 } });
    await http().post(`/schedule/${schedule.id}/run`).set('x-user-id', schedule.userId).expect(202);
    const before = await scrape(backend.app);
    await http().post(`/schedule/${schedule.id}/run`).set('x-user-id', schedule.userId).expect(409);
    clock.set('2026-03-02T12:00:00.000Z');
    await tick();
    const moved = delta(before, await scrape(backend.app));
    assert.equal(moved('schedule_skips_total', { trigger: 'manual', skip_reason: 'budget_exhausted' }), 1);
    assert.equal(moved('schedule_skips_total', { trigger: 'cron', skip_reason: 'budget_exhausted' }), 1);
    assert.equal(moved('schedule_fires_total', { trigger: 'cron', status: 'skipped' }), 1);
    assert.equal(moved('schedule_fires_total', { trigger: 'cron', status: 'succeeded' }), 0);
    assert.equal(moved('schedule_skips_total', { trigger: 'cron', skip_reason: 'overlap' }), 0);
    await remove(schedule);
  });

  it("counts a user's pause once, at the PATCH that disables the schedule", async () => {
    const schedule = await create({});
    const before = await scrape(backend.app);
    for (let i = 0; i < 2; i++) {
      await http().patch(`/schedule/${schedule.id}`).set('x-user-id', schedule.userId).send({ enabled: false }).expect(200);
    }
    const moved = delta(before, await scrape(backend.app));
    assert.equal(moved('schedule_pauses_total', { reason: 'user' }), 1);
    assert.equal(moved('schedule_pauses_total', { reason: 'consecutive_failures' }), 0);
    await remove(schedule);
  });

  it('keeps the backlog the last tick saw, without asking the storage at scrape time', async () => {
    // A backlog left at the end of a tick needs a replica holding due schedules: stood in for by a
    // storage whose dueBacklog answers 7, under a ticker that records into this app's metrics.
    const firing = backend.app.get(FiringStorage);
    let asked = 0;
    const behind: FiringStorage = Object.create(firing, {
      dueBacklog: { value: async () => (asked++, { count: 7, oldestNextRunAt: null }) },
    });
    const config = { enabled: false, intervalMs: 1000, batchSize: 100 };
    const metrics = backend.app.get(Metrics);
    await new SchedulerService(behind, clock, config, new DispatchMode(false), metrics).tick();
    assert.equal(asked, 1);
    assert.equal(valueOf(await scrape(backend.app), 'schedule_due_backlog'), 7);
    assert.equal(asked, 1);
    await tick();
    assert.equal(valueOf(await scrape(backend.app), 'schedule_due_backlog'), 0);
  });

  it('counts manual fires', async () => {
    const schedule = await create({});
    const before = await scrape(backend.app);
    await http().post(`/schedule/${schedule.id}/run`).set('x-user-id', schedule.userId).expect(202);
    await http().post(`/schedule/${schedule.id}/run`).set('x-user-id', schedule.userId).expect(202);
    const moved = delta(before, await scrape(backend.app));
    assert.equal(moved('schedule_fires_total', { trigger: 'manual', status: 'succeeded' }), 2);
    // Manual fires are on time by definition: no lag.
    assert.equal(moved('schedule_fire_lag_seconds_count'), 0);
    await remove(schedule);
  });

  it('documents GET /metrics in the OpenAPI document, without identity', async () => {
    const document = (await http().get('/docs-json').expect(200)).body;
    const operation = document.paths['/metrics']?.get;
    assert.ok(operation, 'GET /metrics is documented');
    assert.ok(operation.description.length > 0);
    assert.ok(operation.responses['200'].content['text/plain; version=0.0.4; charset=utf-8']);
    assert.equal(operation.parameters?.some((p: { name: string }) => p.name === 'x-user-id') ?? false, false);
  });
});

// The dispatcher against a real receiver on 127.0.0.1 (as in dispatch.e2e-spec.ts), drained by hand.
const SECRET = `whsec_${Buffer.from('the metrics e2e secret, 32 bytes!').toString('base64')}`;
let answers: Array<{ status: number; headers?: Record<string, string>; body?: string }> = [];
const receiver: Server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const { status, headers = {}, body = '' } = answers.shift() ?? { status: 200 };
    res.writeHead(status, headers).end(body);
  });
});
beforeAll(() => new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve)));
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
});
beforeEach(() => {
  answers = [];
});

describeOnEveryBackend(
  'metrics of dispatch',
  (backend) => {
    const http = () => request(backend.app.getHttpServer());
    const drain = () => backend.app.get(DispatcherService).drain();
    async function manualFire(userId: string, scheduleId: string, status = 202): Promise<void> {
      await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', userId).expect(status);
    }

    it('counts delivery attempts by outcome and times them', async () => {
      const userId = `user-${uuidv7()}`;
      const before = await scrape(backend.app);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody({ overlap_policy: 'allow' })).expect(201);
        ids.push(created.body.schedule_id);
      }
      for (const id of ids) await manualFire(userId, id);
      // One answer per attempt, whichever run it is for: delivered, completed, retry, gave-up.
      answers = [
        { status: 200 },
        { status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"succeeded"}' },
        { status: 503, headers: { 'retry-after': '60' } }, // not due again within this drain
        { status: 400 },
      ];
      const attempts = await drain();
      assert.equal(attempts, 4);
      const moved = delta(before, await scrape(backend.app));

      assert.equal(moved('schedule_fires_total', { trigger: 'manual', status: 'pending' }), 4);
      for (const outcome of ['delivered', 'completed', 'retry', 'gave-up']) {
        assert.equal(moved('dispatch_attempts_total', { outcome }), 1, outcome);
      }
      assert.equal(moved('dispatch_delivery_duration_seconds_count'), 4);
      assert.equal(moved('dispatch_delivery_duration_seconds_bucket', { le: '+Inf' }), 4);
    });

    it('counts a manual fire the overlap policy refuses as skipped', async () => {
      const userId = `user-${uuidv7()}`;
      const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody({ overlap_policy: 'skip' })).expect(201);
      const before = await scrape(backend.app);
      await manualFire(userId, created.body.schedule_id);
      await manualFire(userId, created.body.schedule_id, 409);
      const moved = delta(before, await scrape(backend.app));
      assert.equal(moved('schedule_fires_total', { trigger: 'manual', status: 'pending' }), 1);
      assert.equal(moved('schedule_fires_total', { trigger: 'manual', status: 'skipped' }), 1);
      assert.equal(moved('schedule_skips_total', { trigger: 'manual', skip_reason: 'overlap' }), 1);
    });
  },
  () => ({
    dispatch: {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/runtime/webhook`,
      secret: SECRET,
      ...DISPATCH_DEFAULTS,
      enabled: false,
      timeoutMs: 5000,
      concurrency: 1,
    },
  }),
);

describe('metrics off (METRICS_ENABLED=false)', () => {
  let testApp: TestApp;
  beforeAll(async () => {
    testApp = await createTestApp('memory', { observability: { ...DEFAULT_OBSERVABILITY, metricsEnabled: false } });
  });
  afterAll(() => testApp.close());

  it('has no /metrics route, records nothing, and does not document it', async () => {
    const http = () => request(testApp.app.getHttpServer());
    const res = await http().get('/metrics').expect(404);
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    assert.equal(testApp.app.get(Metrics).enabled, false);
    await http().get('/schedule').set('x-user-id', 'alice').expect(200);
    assert.equal(await testApp.app.get(Metrics).exposition(), '');
    const document = (await http().get('/docs-json').expect(200)).body;
    assert.equal(document.paths['/metrics'], undefined);
  });
});
