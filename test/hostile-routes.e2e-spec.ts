import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { beforeAll, beforeEach, it } from '@jest/globals';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_OBSERVABILITY } from '../src/config/app-config.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, undeliveredDispatch } from './support/dispatch.js';
import {
  hostileJsonBodies,
  hostilePathSegments,
  hostileQueries,
  headerValue,
  mutationsOf,
  pathSegment,
  queryString,
  type RawBody,
  requestBody,
} from './support/hostile-corpus.js';
import { PROBLEM_JSON } from './support/problem.js';
import { seedExample } from './support/seed.js';
import { describeOnEveryBackend } from './support/test-app.js';

// Issue 8's hostile-input suite, route by route: every route of the service gets bad path ids,
// query strings, bodies and headers, on every backend. Every answer must be a success or a 4xx
// problem+json, never a 5xx; nothing sent as one user may change another user's data; and the
// service still answers /health promptly afterwards. Each test sends its whole corpus and then
// reports every answer that broke a rule, with the exact request, rather than the first one.

/** fast-check's seed, fixed so that CI sends the same generated cases every time. */
const SEED = 20261203;
/** Generated cases per test: enough to vary every part, few enough for ~15 s per backend on a busy 2-core machine. */
const NUM_RUNS = 80;
/** How long /health may take to answer after the corpus. */
const HEALTH_BOUND_MS = 2000;

const RUNTIME_TOKEN = aRuntimeToken();

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/** Real records the routes' placeholders are filled with. */
interface Ids {
  scheduleId: string;
  runId: string;
  sessionId: string;
}

interface Route {
  method: Method;
  /** The path with `:schedule_id`, `:run_id` and `:session_id` placeholders. */
  template: string;
  /** Who the route authenticates: a user (x-user-id), the runtime (a bearer token), or no one. */
  auth: 'user' | 'runtime' | 'none';
  /** A valid body for the route, for those that take one. */
  body?: (ids: Ids) => Record<string, unknown>;
}

/** The runtime's valid answer for a session: the seed's example state, as runtime.e2e-spec writes it. */
function validState(sessionId: string): Record<string, unknown> {
  const { sessions } = seedExample() as { sessions: Array<{ state: Record<string, unknown> }> };
  return { ...structuredClone(sessions[0].state), session_id: sessionId };
}

/** Every route of the service, from the controllers (schedules, runtime, health, metrics, the API docs). */
const ROUTES: Route[] = [
  { method: 'GET', template: '/schedule', auth: 'user' },
  { method: 'POST', template: '/schedule', auth: 'user', body: () => aCreateBody() },
  { method: 'GET', template: '/schedule/:schedule_id', auth: 'user' },
  { method: 'PATCH', template: '/schedule/:schedule_id', auth: 'user', body: () => ({ description: 'patched', enabled: true }) },
  { method: 'DELETE', template: '/schedule/:schedule_id', auth: 'user' },
  { method: 'GET', template: '/schedule/:schedule_id/sessions', auth: 'user' },
  { method: 'POST', template: '/schedule/:schedule_id/run', auth: 'user' },
  { method: 'PUT', template: '/schedule/by-key/hostile-key', auth: 'user', body: () => aCreateBody() },
  { method: 'POST', template: '/schedule/:schedule_id/runs/:run_id/replay', auth: 'user' },
  { method: 'POST', template: '/schedule/:schedule_id/runs/:run_id/cancel', auth: 'user' },
  { method: 'POST', template: '/schedule/:schedule_id/skip', auth: 'user', body: () => ({ scheduled_for: '2030-01-01T09:00:00Z' }) },
  { method: 'DELETE', template: '/schedule/:schedule_id/skip', auth: 'user', body: () => ({ scheduled_for: '2030-01-01T09:00:00Z' }) },
  { method: 'GET', template: '/runs', auth: 'user' },
  { method: 'POST', template: '/runs/redrive', auth: 'user', body: (ids) => ({ run_ids: [ids.runId] }) },
  { method: 'POST', template: '/schedule/:schedule_id/backfill', auth: 'user', body: () => ({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', dry_run: true }) },
  { method: 'POST', template: '/schedule/preview', auth: 'user', body: () => aCreateBody() },
  { method: 'POST', template: '/schedule/bulk', auth: 'user', body: (ids) => ({ action: 'resume', ids: [ids.scheduleId] }) },
  { method: 'GET', template: '/schedule/:schedule_id/runs', auth: 'user' },
  { method: 'GET', template: '/schedule/:schedule_id/runs/:run_id', auth: 'user' },
  { method: 'GET', template: '/schedule/:schedule_id/next-runs', auth: 'user' },
  { method: 'POST', template: '/runtime/runs/:run_id/status', auth: 'runtime', body: () => ({ status: 'running' }) },
  { method: 'PUT', template: '/runtime/sessions/:session_id/state', auth: 'runtime', body: (ids) => validState(ids.sessionId) },
  { method: 'GET', template: '/health', auth: 'none' },
  { method: 'GET', template: '/health/ready', auth: 'none' },
  { method: 'GET', template: '/health/live', auth: 'none' },
  { method: 'GET', template: '/metrics', auth: 'none' },
  { method: 'GET', template: '/docs-json', auth: 'none' },
];

const PLACEHOLDERS = { ':schedule_id': 'scheduleId', ':run_id': 'runId', ':session_id': 'sessionId' } as const;

function fill(template: string, ids: Ids, replace: Partial<Record<keyof typeof PLACEHOLDERS, string>> = {}): string {
  return template.replace(/:schedule_id|:run_id|:session_id/g, (p) => replace[p as keyof typeof PLACEHOLDERS] ?? ids[PLACEHOLDERS[p as keyof typeof PLACEHOLDERS]]);
}

const placeholdersOf = (template: string) => (template.match(/:schedule_id|:run_id|:session_id/g) ?? []) as Array<keyof typeof PLACEHOLDERS>;

interface HostileRequest {
  method: Method;
  url: string;
  headers: Record<string, string>;
  body?: RawBody;
  /** The answer must be this status (e.g. 404 for another user's record), not only "no 5xx". */
  expect?: number;
}

/** One line that names a request exactly, for the report. */
function describeRequest(req: HostileRequest): string {
  const headers = Object.entries(req.headers)
    .map(([k, v]) => `${k}: ${JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v)}`)
    .join('; ');
  const body = req.body
    ? ` body(${req.body.note}, ${req.body.contentType ?? 'no content-type'}, ${req.body.payload.length} bytes): ${JSON.stringify(req.body.payload.toString().slice(0, 120))}`
    : '';
  const url = req.url.length > 300 ? `${req.url.slice(0, 300)}…(${req.url.length})` : req.url;
  return `${req.method} ${url} [${headers}]${body}`;
}

/** Sends requests through Fastify's inject and keeps every answer that breaks the rules. */
class Verdicts {
  readonly broken: string[] = [];
  sent = 0;

  constructor(private readonly app: () => NestFastifyApplication) {}

  async send(req: HostileRequest): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const headers = { ...req.headers };
    if (req.body?.contentType !== undefined) headers['content-type'] = req.body.contentType;
    const res = await this.app().inject({ method: req.method, url: req.url, headers, ...(req.body ? { payload: req.body.payload } : {}) });
    this.sent++;
    const fault = faultOf(req, res.statusCode, res.headers, res.body);
    if (fault) this.broken.push(`${fault}\n    request:  ${describeRequest(req)}\n    response: ${res.statusCode} ${res.headers['content-type']} ${res.body.slice(0, 300)}`);
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }

  async sendAll(requests: Iterable<HostileRequest>): Promise<void> {
    for (const req of requests) await this.send(req);
  }

  /** Fails with every broken answer at once. */
  assertNoneBroken(): void {
    assert.ok(this.sent > 0, 'the corpus sent nothing');
    assert.equal(this.broken.length, 0, `${this.broken.length} of ${this.sent} answers broke the rules:\n${this.broken.join('\n')}`);
  }
}

/** Why an answer breaks the rules, or null: a 2xx, or a 4xx problem+json with type, title and its status. */
function faultOf(req: HostileRequest, status: number, headers: Record<string, unknown>, body: string): string | null {
  if (status >= 500) return `a ${status}`;
  if (req.expect !== undefined && status !== req.expect) return `${status} where ${req.expect} was due`;
  if (status >= 200 && status < 300) return null;
  if (status < 400) return `an unexpected ${status}`;
  if (!PROBLEM_JSON.test(String(headers['content-type'] ?? ''))) return `a ${status} that is not problem+json`;
  if (req.method === 'HEAD') return null;
  let problem: Record<string, unknown>;
  try {
    problem = JSON.parse(body);
  } catch {
    return `a ${status} whose body is not JSON`;
  }
  if (typeof problem.type !== 'string' || typeof problem.title !== 'string' || problem.status !== status) {
    return `a ${status} problem without type, title or the same status`;
  }
  return null;
}

/** A fixed sample of `arbitrary`: the same values on every run (fixed seed). */
const sample = <T>(arbitrary: fc.Arbitrary<T>, numRuns = NUM_RUNS, offset = 0): T[] => fc.sample(arbitrary, { seed: SEED + offset, numRuns });

describeOnEveryBackend(
  'hostile input on every route',
  (backend) => {
    const attacker = `attacker-${uuidv7()}`;
    const victim = `victim-${uuidv7()}`;
    /** The attacker's own records: real ids that routes accept (and may legitimately change). */
    let own: Ids;
    /** A schedule of the attacker's for DELETE to aim at, so that the other routes keep `own`. */
    let spareScheduleId: string;
    /** The victim's records, created first: no request of the corpus may change them. */
    let theirs: Ids;
    let victimBefore: string;

    /** Requests sent by all the tests on this backend. */
    let sentHere = 0;
    let verdicts: Verdicts;
    beforeEach(() => {
      sentHere += verdicts?.sent ?? 0;
      verdicts = new Verdicts(() => backend.app);
    });
    const inject = (method: Method, url: string, user: string, body?: unknown) =>
      backend.app.inject({
        method,
        url,
        headers: { 'x-user-id': user, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });

    /** A schedule of `user` with one manual run (and so one session). */
    async function scheduleWithRun(user: string): Promise<Ids> {
      const created = await inject('POST', '/schedule', user, aCreateBody({ started_at: '2026-01-01T00:00:00Z' }));
      assert.equal(created.statusCode, 201, created.body);
      const scheduleId = created.json().schedule_id as string;
      const run = await inject('POST', `/schedule/${scheduleId}/run`, user);
      assert.equal(run.statusCode, 202, run.body);
      return { scheduleId, runId: run.json().run.id, sessionId: run.json().session_id };
    }

    /** What the victim sees of their records, as the victim: the schedule (with its ETag), its sessions, its runs. */
    async function victimView(): Promise<string> {
      const schedule = await inject('GET', `/schedule/${theirs.scheduleId}`, victim);
      const sessions = await inject('GET', `/schedule/${theirs.scheduleId}/sessions`, victim);
      const runs = await inject('GET', `/schedule/${theirs.scheduleId}/runs`, victim);
      const run = await inject('GET', `/schedule/${theirs.scheduleId}/runs/${theirs.runId}`, victim);
      for (const res of [schedule, sessions, runs, run]) assert.equal(res.statusCode, 200, res.body);
      return JSON.stringify([schedule.headers.etag, schedule.json(), sessions.json(), runs.json(), run.json()]);
    }

    beforeAll(async () => {
      theirs = await scheduleWithRun(victim);
      own = await scheduleWithRun(attacker);
      spareScheduleId = (await scheduleWithRun(attacker)).scheduleId;
      victimBefore = await victimView();
    });

    /** The credentials a route wants, valid. */
    const credentials = (route: Route): Record<string, string> =>
      route.auth === 'user' ? { 'x-user-id': attacker } : route.auth === 'runtime' ? { authorization: `Bearer ${RUNTIME_TOKEN}` } : {};

    /** The route with the attacker's own ids (DELETE: the spare schedule), valid credentials and body. */
    function validRequest(route: Route, replace: Partial<Record<keyof typeof PLACEHOLDERS, string>> = {}): HostileRequest {
      const ids = route.method === 'DELETE' ? { ...own, scheduleId: spareScheduleId } : own;
      const body = route.body?.(ids);
      return {
        method: route.method,
        url: fill(route.template, ids, replace),
        headers: credentials(route),
        ...(body ? { body: { payload: JSON.stringify(body), contentType: 'application/json', note: 'valid' } } : {}),
      };
    }

    it('answers bad path ids on every route with a 4xx problem, and another user\'s ids with a 404', async () => {
      const segments = [...hostilePathSegments(), ...sample(pathSegment, 40)];
      for (const route of ROUTES) {
        for (const placeholder of placeholdersOf(route.template)) {
          await verdicts.sendAll(segments.map((segment) => validRequest(route, { [placeholder]: segment })));
          // Another user's real record, by the attacker: as if it did not exist. The runtime is not a user:
          // it may touch any run or session, so the victim's ids go to it only with a bad token (below).
          if (route.auth === 'user') {
            const victimId = theirs[PLACEHOLDERS[placeholder]];
            await verdicts.send({ ...validRequest(route, { [placeholder]: victimId }), expect: 404 });
          }
        }
        if (route.auth === 'user' && placeholdersOf(route.template).length > 1) {
          await verdicts.send({ ...validRequest(route, { ':schedule_id': theirs.scheduleId, ':run_id': theirs.runId }), expect: 404 });
        }
      }
      // The runtime's routes with the victim's ids and no valid token: refused before anything is read.
      for (const route of ROUTES.filter((r) => r.auth === 'runtime')) {
        const req = validRequest(route, { ':run_id': theirs.runId, ':session_id': theirs.sessionId });
        for (const headers of [{}, { 'x-user-id': attacker }, { authorization: `Bearer ${RUNTIME_TOKEN}x` }] as Array<Record<string, string>>) {
          await verdicts.send({ ...req, body: { payload: JSON.stringify({ status: 'failed' }), contentType: 'application/json', note: 'a final status' }, headers, expect: 401 });
        }
      }
      verdicts.assertNoneBroken();
    });

    it('answers bad query strings on every route with a 4xx problem or a success', async () => {
      const queries = [...hostileQueries(), ...sample(queryString, NUM_RUNS, 1)];
      for (const route of ROUTES) {
        const req = validRequest(route);
        // The paged lists and next-runs read their query: all of it. The other routes ignore theirs: every 8th case.
        const read = route.method === 'GET' && /\/(sessions|runs|next-runs)$/.test(route.template);
        await verdicts.sendAll(queries.filter((_, i) => read || i % 8 === 0).map((query) => ({ ...req, url: `${req.url}?${query}` })));
      }
      verdicts.assertNoneBroken();
    });

    it('answers bad bodies on every route with a 4xx problem or a success', async () => {
      const raw = hostileJsonBodies();
      const generated = sample(requestBody, NUM_RUNS, 2);
      for (const route of ROUTES) {
        const req = validRequest(route);
        const valid = route.body?.(own);
        // Routes without a body get some of the raw and generated ones too: a body where none is due.
        const bodies = valid ? [...raw, ...generated, ...mutationsOf(valid)] : [...raw, ...generated].filter((_, i) => i % 6 === 0);
        await verdicts.sendAll(bodies.map((body) => ({ ...req, body })));
      }
      verdicts.assertNoneBroken();
    });

    it('answers bad identities, preconditions, tokens and other headers with a 4xx problem or a success', async () => {
      const identities = ['', ' ', '\t', 'a\tb', 'x'.repeat(257), 'x'.repeat(10_000), 'a, b', `${attacker}, ${attacker}`, 'caf\u00e9', '\u00ff\u00fe',
        '__proto__', 'constructor', 'null', '*', '%00', ...sample(headerValue, 12, 3)];
      const ifMatches = ['garbage', '"', '""', '"abc"', 'W/"1"', 'w/"1"', '"1", "2"', '"1",', ',', '"99999999999999999999"', '"-1"', '"1e3"', '"0x1"',
        '"1.0"', '" 1"', '**', '* , "1"', 'x'.repeat(8000), ...sample(headerValue, 12, 4)];
      const authorizations = ['', 'Bearer', 'Bearer ', 'Bearer  ', 'Basic dXNlcjpwYXNz', `Token ${RUNTIME_TOKEN}`, `Bearer ${RUNTIME_TOKEN} extra`,
        `Bearer ${RUNTIME_TOKEN}x`, `Bearer ${RUNTIME_TOKEN.slice(0, -1)}`, `Bearer ${RUNTIME_TOKEN}, Bearer ${RUNTIME_TOKEN}`, `Bearer\t${RUNTIME_TOKEN}`,
        `Bearer ${'x'.repeat(10_000)}`, 'Bearer \u00e9', 'Bearer %00', ...sample(headerValue, 12, 5)];
      const others: Array<Record<string, string>> = [
        { accept: 'application/xml' },
        { accept: 'text/html;q=garbage' },
        { 'accept-encoding': 'gzip;q=2, *;q=-1' },
        { 'x-request-id': 'x'.repeat(10_000) },
        { 'x-request-id': 'a\tb' },
        { 'x-request-id': '' },
        { 'content-encoding': 'gzip' },
        { 'content-encoding': 'br, deflate' },
        { 'x-forwarded-for': 'garbage, , 999.999.999.999' },
        { origin: 'https://evil.example' },
        { 'if-none-match': '*' },
        { range: 'bytes=0-1' },
        { expect: '100-continue' },
        { 'idempotency-key': '' },
        { 'idempotency-key': 'x'.repeat(300) },
        { 'idempotency-key': 'a\tb' },
        { 'idempotency-key': 'caf\u00e9' },
      ];
      for (const route of ROUTES) {
        const req = validRequest(route);
        if (route.auth === 'user') {
          await verdicts.sendAll(identities.map((id) => ({ ...req, headers: { 'x-user-id': id } })));
          await verdicts.send({ ...req, headers: {} });
        }
        if (route.method === 'PATCH' || route.method === 'PUT') {
          await verdicts.sendAll(ifMatches.map((ifMatch) => ({ ...req, headers: { ...req.headers, 'if-match': ifMatch } })));
        }
        if (route.auth === 'runtime') {
          await verdicts.sendAll(authorizations.map((authorization) => ({ ...req, headers: { authorization } })));
          await verdicts.send({ ...req, headers: { 'x-user-id': attacker } });
        }
        await verdicts.sendAll(others.map((headers) => ({ ...req, headers: { ...req.headers, ...headers } })));
      }
      verdicts.assertNoneBroken();
    });

    it('answers methods a route does not have, and mangled paths, with a 4xx problem', async () => {
      const methods: Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
      for (const route of ROUTES) {
        const req = validRequest(route);
        const others = methods.filter((m) => m !== route.method && !(m === 'HEAD' && route.method === 'GET'));
        await verdicts.sendAll(others.map((method) => ({ ...req, method })));
        for (const url of [`${req.url}/`, `${req.url}//`, `/${req.url}`, `${req.url}/%00`, `${req.url}/..`, `${req.url}/%2e%2e/%2e%2e`, `${req.url}/x`, `${req.url};x`, `${req.url}#x`, req.url.toUpperCase()]) {
          await verdicts.send({ ...req, url });
        }
      }
      verdicts.assertNoneBroken();
    });

    it('answers generated requests on random routes with a 4xx problem or a success (fast-check, fixed seed)', async () => {
      const generatedRequest = fc.record({
        route: fc.constantFrom(...ROUTES),
        segment: fc.option(pathSegment),
        query: fc.option(queryString),
        body: fc.option(requestBody),
        header: fc.option(headerValue),
      });
      for (const { route, segment, query, body, header } of sample(generatedRequest, NUM_RUNS, 6)) {
        const [placeholder] = placeholdersOf(route.template);
        const req = validRequest(route, segment !== null && placeholder ? { [placeholder]: segment } : {});
        const headers = header === null ? req.headers : route.auth === 'runtime' ? { authorization: header } : { 'x-user-id': header };
        await verdicts.send({ ...req, url: query === null ? req.url : `${req.url}?${query}`, headers, ...(body === null ? {} : { body }) });
      }
      verdicts.assertNoneBroken();
    });

    it('answers duplicated identity, token and If-Match headers on a real socket with a 4xx problem', async () => {
      // Fastify's inject cannot repeat a header; Node's parser joins repeats, so only a socket shows what the service sees.
      await backend.app.listen(0, '127.0.0.1');
      const { port } = backend.app.getHttpServer().address() as AddressInfo;
      const exchange = (head: string, body = '') =>
        new Promise<string>((resolve, reject) => {
          // write, not end: Node aborts a request whose client half-closes before the (async) answer.
          const socket = connect(port, '127.0.0.1', () =>
            socket.write(`${head}host: x\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
          );
          socket.setTimeout(5000, () => socket.destroy());
          let answer = '';
          socket.on('data', (chunk) => (answer += chunk));
          socket.on('close', () => resolve(answer));
          socket.on('error', reject);
        });
      const json = 'content-type: application/json\r\n';
      /** Request line, headers, body, and whether the repeat is ambiguous (an identity or a token: it must be refused). */
      const cases: Array<[string, string, string, boolean]> = [];
      for (const route of ROUTES.filter((r) => r.auth === 'user')) {
        const { url, body } = validRequest(route);
        const payload = body?.payload.toString() ?? '';
        cases.push([`${route.method} ${url}`, `x-user-id: ${attacker}\r\nx-user-id: ${attacker}\r\n${payload ? json : ''}`, payload, true]);
        cases.push([`${route.method} ${url}`, `x-user-id: ${attacker}\r\nX-User-Id: ${victim}\r\n${payload ? json : ''}`, payload, true]);
      }
      const patch = validRequest(ROUTES.find((r) => r.method === 'PATCH')!);
      // Node joins repeated If-Match values into one list, and keeps the first Content-Type: a success or a 4xx.
      cases.push([`PATCH ${patch.url}`, `x-user-id: ${attacker}\r\nif-match: "1"\r\nif-match: *\r\n${json}`, patch.body!.payload.toString(), false]);
      cases.push([`PATCH ${patch.url}`, `x-user-id: ${attacker}\r\n${json}content-type: text/plain\r\n`, patch.body!.payload.toString(), false]);
      for (const route of ROUTES.filter((r) => r.auth === 'runtime')) {
        const { url, body } = validRequest(route);
        const auth = `authorization: Bearer ${RUNTIME_TOKEN}\r\n`;
        cases.push([`${route.method} ${url}`, `${auth}${auth}${json}`, body!.payload.toString(), true]);
        cases.push([`${route.method} ${url}`, `${auth}authorization: Bearer wrong\r\n${json}`, body!.payload.toString(), true]);
      }
      for (const [requestLine, headers, body, ambiguous] of cases) {
        const answer = await exchange(`${requestLine} HTTP/1.1\r\n${headers}`, body);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
        verdicts.sent++;
        const [head = '', text = ''] = answer.split('\r\n\r\n');
        const contentType = /^content-type: (.*)$/im.exec(head)?.[1] ?? '';
        const fault = Number.isNaN(status) ? 'no HTTP answer' : faultOf({ method: 'GET', url: '', headers: {} }, status, { 'content-type': contentType }, text);
        // A repeated identity or token is ambiguous: refused, never read as one of the values.
        const refused = !ambiguous || status >= 400 ? null : `a ${status} for an ambiguous header`;
        if (fault ?? refused) verdicts.broken.push(`${fault ?? refused}\n    request:  ${requestLine} ${JSON.stringify(headers)} ${body.slice(0, 80)}\n    response: ${answer.slice(0, 300)}`);
      }
      verdicts.assertNoneBroken();
    });

    it('leaves the other user\'s schedule, sessions and runs as they were, and answers /health promptly afterwards', async () => {
      assert.equal(await victimView(), victimBefore);
      for (const url of ['/health/live', '/health']) {
        const started = process.hrtime.bigint();
        const res = await backend.app.inject({ method: 'GET', url });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
        assert.ok(ms < HEALTH_BOUND_MS, `${url} took ${ms.toFixed(0)} ms`);
      }
      // The pollution keys of the corpus reached no prototype.
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.ok(sentHere > 1000, `only ${sentHere} requests were sent`);
    });
  },
  // Dispatch on, delivery off: runs stay active until the runtime reports, so its routes get past 409.
  { runtimeToken: RUNTIME_TOKEN, dispatch: undeliveredDispatch(), observability: { ...DEFAULT_OBSERVABILITY, metricsEnabled: true } },
);
