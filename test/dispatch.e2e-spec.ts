import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, it } from '@jest/globals';
import request from 'supertest';
import { v7 as uuidv7 } from 'uuid';
import { Webhook } from 'standardwebhooks';
import { DISPATCH_DEFAULTS, type DispatchConfig } from '../src/config/app-config.js';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { SchedulerService } from '../src/firing/scheduler.service.js';
import { aCreateBody } from './support/builders.js';
import { type BackendHandle, describeOnEveryBackend } from './support/test-app.js';

// The dispatcher against a real HTTP receiver on 127.0.0.1 playing the agent runtime. The poll
// loop is off (enabled: false): each test fires, then calls drain() at the manual clock's now.

const SECRET = `whsec_${Buffer.from('the dispatch e2e secret, 32 bytes').toString('base64')}`;

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
}

/** What the receiver answers to one request. */
interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer this late (the slow receiver); a client that gives up first ends it. */
  delayMs?: number;
}

/** The runtime's stand-in: answers from a script, one answer per request (then 200 with no body). */
class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private script: Answer[] = [];
  private server: Server | undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/runtime/webhook`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, rawBody });
        const { status = 200, headers = {}, body = '', delayMs = 0 } = this.script.shift() ?? {};
        const timer = setTimeout(() => res.writeHead(status, headers).end(body), delayMs);
        res.on('close', () => clearTimeout(timer));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** Forgets what came before; the next requests get these answers, in order. */
  answer(...answers: Answer[]): void {
    this.requests.length = 0;
    this.script = answers;
  }
}

/** A port nothing listens on: a receiver that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function dispatchTo(url: string, overrides: Partial<DispatchConfig> = {}): DispatchConfig {
  return { url, secret: SECRET, enabled: false, ...DISPATCH_DEFAULTS, timeoutMs: 5000, ...overrides };
}

// Declared before the suites: Jest runs these before each suite's own beforeAll, which builds the
// app from the options thunk (that reads the receiver's port).
const receiver = new Receiver();
let downPort = 0;
beforeAll(async () => {
  await receiver.start();
  downPort = await closedPort();
});
afterAll(() => receiver.stop());
beforeEach(() => receiver.answer());

/** The calls every suite makes, on one backend's app. */
function dispatchDriver(backend: BackendHandle) {
  const http = () => request(backend.app.getHttpServer());
  const dispatcher = () => backend.app.get(DispatcherService);

  return {
    http,
    drain: () => dispatcher().drain(),

    /** A new user's schedule (whose cron does not come round during the tests), fired by POST /run. */
    async fire(overrides: Record<string, unknown> = {}): Promise<{ userId: string; scheduleId: string; runId: string }> {
      const userId = `user-${uuidv7()}`;
      const created = await http().post('/schedule').set('x-user-id', userId).send(aCreateBody(overrides)).expect(201);
      const scheduleId: string = created.body.schedule_id;
      const { run } = (await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', userId).expect(202)).body;
      assert.equal(run.status, 'pending');
      return { userId, scheduleId, runId: run.id };
    },

    /** The run as GET /schedule/{id}/runs/{run_id} returns it, with attempts[]. */
    async run(fired: { userId: string; scheduleId: string; runId: string }) {
      const res = await http().get(`/schedule/${fired.scheduleId}/runs/${fired.runId}`).set('x-user-id', fired.userId).expect(200);
      return res.body;
    },
  };
}

const verify = (req: ReceivedRequest, rawBody = req.rawBody) => new Webhook(SECRET).verify(rawBody, req.headers as Record<string, string>);

describeOnEveryBackend(
  'dispatch',
  (backend) => {
    const { clock } = backend;
    const { http, drain, fire, run } = dispatchDriver(backend);

    it('delivers a cron fire, signed, with the run, schedule and session as the API returns them', async () => {
      const userId = `user-${uuidv7()}`;
      const created = await http()
        .post('/schedule')
        .set('x-user-id', userId)
        .send(aCreateBody({ cron_expression: '* * * * *' }))
        .expect(201);
      const scheduleId: string = created.body.schedule_id;
      const schedulePath = `/schedule/${scheduleId}`;
      clock.set((await http().get(schedulePath).set('x-user-id', userId).expect(200)).body.next_run_at);
      await backend.app.get(SchedulerService).tick();
      // Read before delivery: the webhook carries the run as it was when claimed.
      const [pendingRun] = (await http().get(`${schedulePath}/runs`).set('x-user-id', userId).expect(200)).body.runs;
      assert.equal(pendingRun.status, 'pending');

      receiver.answer({ status: 202 });
      assert.equal(await drain(), 1);

      assert.equal(receiver.requests.length, 1);
      const [req] = receiver.requests;
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/runtime/webhook');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['webhook-id'], pendingRun.id);
      const body = JSON.parse(req.rawBody);
      assert.deepEqual(verify(req), body);
      assert.throws(() => verify(req, req.rawBody.replace('"schedule.fired"', '"schedule.fired" ')));
      assert.throws(() => verify({ ...req, headers: { ...req.headers, 'webhook-id': uuidv7() } }));

      assert.equal(body.type, 'schedule.fired');
      assert.equal(body.timestamp, clock.now().toISOString());
      assert.deepEqual(body.data.run, pendingRun);
      assert.deepEqual(body.data.schedule, (await http().get(schedulePath).set('x-user-id', userId).expect(200)).body);
      const sessions = (await http().get(`${schedulePath}/sessions`).set('x-user-id', userId).expect(200)).body.sessions;
      assert.equal(sessions.length, 1);
      assert.deepEqual(body.data.session, sessions[0]);

      const dispatched = await run({ userId, scheduleId, runId: pendingRun.id });
      assert.equal(dispatched.status, 'dispatched');
      assert.equal(dispatched.error, null);
      assert.equal(dispatched.finished_at, null);
      assert.equal(dispatched.attempts.length, 1);
      const [attempt] = dispatched.attempts;
      assert.equal(attempt.at, clock.now().toISOString());
      assert.equal(attempt.status_code, 202);
      assert.equal(attempt.error, null);
      assert.ok(Number.isInteger(attempt.duration_ms) && attempt.duration_ms >= 0, `${attempt.duration_ms}`);
      await http().delete(schedulePath).set('x-user-id', userId).expect(204); // so that later ticks do not fire it
    });

    it('a plain 2xx leaves the run dispatched, and it is not delivered again', async () => {
      const fired = await fire();
      receiver.answer({ status: 200, body: '{"accepted":true}' });
      assert.equal(await drain(), 1);
      assert.equal((await run(fired)).status, 'dispatched');
      clock.advance(10 * 60_000);
      assert.equal(await drain(), 0);
      assert.equal(receiver.requests.length, 1);
    });

    it('a 2xx whose body gives the final status completes the run at once', async () => {
      const succeeded = await fire();
      receiver.answer({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"succeeded"}' });
      assert.equal(await drain(), 1);
      const done = await run(succeeded);
      assert.equal(done.status, 'succeeded');
      assert.equal(done.error, null);
      assert.equal(done.finished_at, clock.now().toISOString());
      assert.equal(done.attempts.length, 1);

      assert.equal(done.usage, null);

      const failed = await fire();
      receiver.answer({ status: 200, body: '{"status":"failed","error":"the model refused","usage":{"input_tokens":800,"output_tokens":12,"cost_usd":0.004}}' });
      assert.equal(await drain(), 1);
      const broken = await run(failed);
      assert.equal(broken.status, 'failed');
      assert.equal(broken.error, 'the model refused');
      assert.deepEqual(broken.usage, { input_tokens: 800, output_tokens: 12, cost_usd: 0.004 });
      assert.equal(broken.attempts[0].status_code, 200);
      assert.equal(broken.attempts[0].error, null);
    });

    it('500 then 200: a second attempt with the same webhook-id after a backoff of at most 1 s', async () => {
      const fired = await fire();
      receiver.answer({ status: 500 }, { status: 200 });
      let attempts = await drain();
      // Full jitter: the first retry waits a random part of 1 s, so only a wait of 0 is retried at once.
      if (attempts === 1) {
        const first = await run(fired);
        assert.equal(first.status, 'pending');
        assert.deepEqual(
          first.attempts.map((a: { status_code: number; error: string }) => [a.status_code, a.error]),
          [[500, 'HTTP 500']],
        );
        clock.advance(1000);
        attempts += await drain();
      }
      assert.equal(attempts, 2);
      const delivered = await run(fired);
      assert.equal(delivered.status, 'dispatched');
      assert.deepEqual(
        delivered.attempts.map((a: { status_code: number; error: string | null }) => [a.status_code, a.error]),
        [
          [500, 'HTTP 500'],
          [200, null],
        ],
      );
      const [first, second] = delivered.attempts.map((a: { at: string }) => Date.parse(a.at));
      assert.ok(second - first >= 0 && second - first <= 1000, `retried ${second - first} ms later`);
      assert.equal(receiver.requests.length, 2);
      for (const req of receiver.requests) {
        assert.equal(req.headers['webhook-id'], fired.runId);
        verify(req);
      }
    });

    it('429 with Retry-After: 120 is retried after 120 s, not before', async () => {
      const fired = await fire();
      receiver.answer({ status: 429, headers: { 'retry-after': '120' } }, { status: 204 });
      assert.equal(await drain(), 1);
      clock.advance(119_999);
      assert.equal(await drain(), 0);
      clock.advance(1);
      assert.equal(await drain(), 1);
      const delivered = await run(fired);
      assert.equal(delivered.status, 'dispatched');
      assert.deepEqual(
        delivered.attempts.map((a: { status_code: number; error: string | null }) => [a.status_code, a.error]),
        [
          [429, 'HTTP 429'],
          [204, null],
        ],
      );
    });

    it('400 is one attempt: the run fails with the error', async () => {
      const fired = await fire();
      receiver.answer({ status: 400, body: '{"message":"bad payload"}' });
      assert.equal(await drain(), 1);
      clock.advance(60 * 60_000);
      assert.equal(await drain(), 0);
      const failed = await run(fired);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error, 'HTTP 400');
      assert.equal(failed.finished_at, failed.attempts[0].at);
      assert.equal(failed.attempts.length, 1);
      assert.equal(failed.attempts[0].status_code, 400);
    });

    it('redrives a run whose delivery gave up: pending again, delivered anew with the same webhook-id; refuses the others', async () => {
      const fired = await fire();
      receiver.answer({ status: 400 }, { status: 202 });
      assert.equal(await drain(), 1);
      assert.equal((await run(fired)).status, 'failed');
      const other = await fire();
      const redrive = (runIds: string[], userId = fired.userId) => http().post('/runs/redrive').set('x-user-id', userId).send({ run_ids: runIds });
      const answer = await redrive([fired.runId, other.runId, 'no-such-run']);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, { taken: [fired.runId], refused: [{ run_id: other.runId, reason: 'not-found' }, { run_id: 'no-such-run', reason: 'not-found' }] });
      assert.equal((await run(fired)).status, 'pending');
      assert.equal(await drain(), 2);
      const redriven = await run(fired);
      assert.deepEqual([redriven.status, redriven.error, redriven.attempts.map((a: { status_code: number }) => a.status_code)], ['dispatched', null, [400, 202]]);
      const ids = receiver.requests.map((r) => r.headers['webhook-id']);
      assert.deepEqual([ids[0], ids.filter((id) => id === fired.runId).length], [fired.runId, 2]);
      // Delivered now: not given up, so not taken again.
      assert.deepEqual((await redrive([fired.runId])).body, { taken: [], refused: [{ run_id: fired.runId, reason: 'not-given-up' }] });
      assert.equal((await redrive([])).status, 422);
    });

    it('a redirect is not followed: the run fails', async () => {
      const fired = await fire();
      receiver.answer({ status: 302, headers: { location: '/elsewhere' } });
      assert.equal(await drain(), 1);
      assert.equal(receiver.requests.length, 1);
      const failed = await run(fired);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error, 'HTTP 302 (redirects are not followed)');
    });
  },
  () => ({ dispatch: dispatchTo(receiver.url) }),
);

describeOnEveryBackend(
  'dispatch to a receiver that is down',
  (backend) => {
    const { clock } = backend;
    const { drain, fire, run } = dispatchDriver(backend);

    it('retries until the last attempt, then the run fails with the error', async () => {
      const fired = await fire();
      let attempts = 0;
      // Each wait covers the backoff's ceiling after the attempts made (1 s, then 2 s).
      for (const waitMs of [1000, 2000, 4000, 60 * 60_000]) {
        attempts += await drain();
        clock.advance(waitMs);
      }
      assert.equal(attempts, 3);
      const failed = await run(fired);
      const refused = `connect ECONNREFUSED 127.0.0.1:${downPort}`;
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error, `${refused} (gave up after 3 attempts)`);
      assert.deepEqual(
        failed.attempts.map((a: { status_code: number | null; error: string }) => [a.status_code, a.error]),
        [
          [null, refused],
          [null, refused],
          [null, refused],
        ],
      );
    });
  },
  () => ({ dispatch: dispatchTo(`http://127.0.0.1:${downPort}/`, { maxAttempts: 3 }) }),
);

describeOnEveryBackend(
  'dispatch to a slow receiver',
  (backend) => {
    const { clock } = backend;
    const { drain, fire, run } = dispatchDriver(backend);

    // The one place real time passes: the attempt's timeout is real.
    it('gives up an attempt at the timeout, and retries it', async () => {
      const fired = await fire();
      receiver.answer({ status: 200, delayMs: 10_000 }, { status: 200 });
      assert.equal(await drain(), 1);
      const timedOut = await run(fired);
      assert.equal(timedOut.status, 'pending');
      assert.equal(timedOut.attempts.length, 1);
      const [attempt] = timedOut.attempts;
      assert.equal(attempt.status_code, null);
      assert.equal(attempt.error, 'timed out after 300 ms');
      assert.ok(attempt.duration_ms >= 250 && attempt.duration_ms < 5000, `${attempt.duration_ms}`);

      clock.advance(1000);
      assert.equal(await drain(), 1);
      assert.equal((await run(fired)).status, 'dispatched');
    });
  },
  () => ({ dispatch: dispatchTo(receiver.url, { timeoutMs: 300 }) }),
);

describeOnEveryBackend(
  'dispatch by the poll loop',
  (backend) => {
    const { fire, run } = dispatchDriver(backend);

    // The loop runs on real timers: this waits (a few polls) for it, as a client of the service would.
    it('delivers a fire without being asked', async () => {
      receiver.answer({ status: 202 });
      const fired = await fire();
      for (let i = 0; i < 1000 && (await run(fired)).status === 'pending'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const delivered = await run(fired);
      assert.equal(delivered.status, 'dispatched');
      assert.equal(delivered.attempts.length, 1);
      assert.equal(receiver.requests.length, 1);
      assert.equal(receiver.requests[0].headers['webhook-id'], fired.runId);
    });
  },
  () => ({ dispatch: dispatchTo(receiver.url, { enabled: true, pollIntervalMs: 10 }) }),
);

describeOnEveryBackend(
  'dispatch woken by the fire',
  (backend) => {
    const { fire, run } = dispatchDriver(backend);

    // The poll comes round once an hour here: what is delivered, the storage handed to the
    // dispatcher as the fire committed, or woke it for.
    const delivered = async (fired: { userId: string; scheduleId: string; runId: string }) => {
      for (let i = 0; i < 1000 && (await run(fired)).status === 'pending'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      return run(fired);
    };

    it('hands a fire to the dispatcher as it commits: the runtime has it before any poll', async () => {
      receiver.answer({ status: 202 });
      const fired = await fire();
      const run = await delivered(fired);
      assert.equal(run.status, 'dispatched');
      assert.equal(receiver.requests[0].headers['webhook-id'], fired.runId);
    });

    it('is woken for a stateful fire, which it claims (its session is read whole, not handed over)', async () => {
      receiver.answer({ status: 200, body: '{"status":"succeeded"}' }, { status: 202 });
      const first = await fire({ stateful: true, overlap_policy: 'buffer_one' });
      assert.equal((await delivered(first)).status, 'succeeded');
      const userId = first.userId;
      const second = (await request(backend.app.getHttpServer()).post(`/schedule/${first.scheduleId}/run`).set('x-user-id', userId).expect(202)).body.run;
      assert.equal((await delivered({ ...first, runId: second.id })).status, 'dispatched');
      assert.equal(receiver.requests.length, 2);
    });
  },
  () => ({ dispatch: dispatchTo(receiver.url, { enabled: true, pollIntervalMs: 3_600_000 }) }),
);
