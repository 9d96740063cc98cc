import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { BEARER_CHALLENGE, INVALID_TOKEN_CHALLENGE } from '../src/auth/identity.guard.js';
import { EXAMPLE_RUN_ID, EXAMPLE_SCHEDULE_ID, EXAMPLE_SESSION_ID } from '../src/docs/examples.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, type InjectedReply, injectJson, undeliveredDispatch } from './support/dispatch.js';
import { createTestApp, type TestApp } from './support/test-app.js';

type Schema = { $ref?: string; type?: string; items?: Schema; properties?: Record<string, Schema>; allOf?: Schema[] };
type Media = { schema: Schema; example?: unknown; examples?: Record<string, { summary: string; value: unknown }> };
type Response = { description?: string; content?: Record<string, Media>; headers?: Record<string, { schema?: Schema }> };
type Operation = {
  parameters?: Array<{ name: string; in: string; description?: string; required?: boolean }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, Response>;
  security?: Array<Record<string, string[]>>;
};
type SecurityScheme = { type: string; in?: string; name?: string; scheme?: string; bearerFormat?: string; description?: string };
type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema>; securitySchemes?: Record<string, SecurityScheme> };
};

const SEED_USER_ID_DESCRIPTION = "Caller's user ID. Temporary header-based identity; will be replaced by JWT auth.";
/** The problem schemas: ProblemDetails, or one of a problem with extension members. */
const PROBLEM_SCHEMA_REF = /^#\/components\/schemas\/(ProblemDetails|\w+Problem)$/;
const PROBLEM_JSON = 'application/problem+json';

async function docsOf(testApp: TestApp): Promise<Doc> {
  return (await request(testApp.app.getHttpServer()).get('/docs-json').expect(200)).body;
}

/** The documented problem example of an operation's response (a named one when there are several). */
function exampleOf(doc: Doc, method: string, path: string, status: string, name?: string): unknown {
  const media = doc.paths[path]?.[method]?.responses[status]?.content?.[PROBLEM_JSON];
  assert.ok(media, `${method.toUpperCase()} ${path} documents a ${status} problem`);
  const example = name ? media.examples?.[name]?.value : media.example;
  assert.ok(example, `${method.toUpperCase()} ${path} ${status} has an example${name ? ` named ${name}` : ''}`);
  return example;
}

/**
 * A live error answer is the documented example: a problem body equal to it once the live ids
 * (and whatever else only this test app has, such as its own limit) are replaced with the example's.
 */
function assertDocumented(res: InjectedReply, example: unknown, replacements: Array<[string | RegExp, string]> = []): void {
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  let text = JSON.stringify(res.body);
  for (const [from, to] of replacements) text = text.replaceAll(from instanceof RegExp ? new RegExp(from, 'g') : from, to);
  assert.deepEqual(JSON.parse(text), example);
}

describe('API documentation', () => {
  let testApp: TestApp;
  let doc: Doc;

  beforeAll(async () => {
    testApp = (await createTestApp('memory')) as TestApp;
    doc = await docsOf(testApp);
  });
  afterAll(() => testApp.close());

  const resolve = (schema: Schema): Schema => {
    const ref = schema.$ref ?? schema.allOf?.[0]?.$ref;
    return ref ? doc.components.schemas[ref.split('/').pop()!] : schema;
  };

  it('serves Swagger UI at /docs', async () => {
    const res = await request(testApp.app.getHttpServer()).get('/docs').redirects(1).expect(200);
    assert.match(res.text, /swagger/i);
  });

  it("offers one Authorize for the x-user-id header, with the seed's description, instead of a header parameter per operation", () => {
    assert.deepEqual(doc.components.securitySchemes!.user, {
      type: 'apiKey',
      in: 'header',
      name: 'x-user-id',
      description: SEED_USER_ID_DESCRIPTION,
    });
    for (const [path, methods] of Object.entries(doc.paths).filter(([path]) => path.startsWith('/schedule'))) {
      for (const [method, op] of Object.entries(methods)) {
        assert.deepEqual(op.security, [{ user: [] }], `${method} ${path}`);
        // A required header parameter as well would have Swagger UI ask for the identity twice.
        assert.ok(!op.parameters?.some((p) => p.in === 'header' && p.name === 'x-user-id'), `${method} ${path}`);
      }
    }
  });

  it('documents the sessions route as the contract page does', () => {
    const op = doc.paths['/schedule/{schedule_id}/sessions'].get;
    const path = op.parameters!.find((p) => p.in === 'path')!;
    assert.equal(path.name, 'schedule_id');
    assert.deepEqual(op.security, [{ user: [] }]);
    assert.ok(op.responses['404'] && op.responses['401']);

    const body = resolve(op.responses['200'].content!['application/json'].schema) as Schema & { required: string[] };
    assert.deepEqual(body.required.sort(), ['sessions', 'total']);
    assert.deepEqual(Object.keys(body.properties!).sort(), ['next_cursor', 'sessions', 'total']);
    assert.deepEqual(op.parameters!.filter((p) => p.in === 'query').map((p) => p.name).sort(), ['cursor', 'limit']);
    const session = resolve(body.properties!.sessions.items!);
    assert.deepEqual(
      Object.keys(session.properties!).sort(),
      ['agent_id', 'config', 'created_at', 'id', 'source', 'source_schedule_id', 'state', 'team_id', 'updated_at', 'user_id'],
    );
    const state = resolve(session.properties!.state);
    const message = resolve(state.properties!.context.items!);
    assert.ok(resolve(message.properties!.usage).properties!.input_tokens);
    const task = resolve(resolve(state.properties!.tasks_context).properties!.tasks.items!);
    assert.ok(task.properties!.blocked_by);
    const config = resolve(session.properties!.config);
    assert.ok(resolve(config.properties!.chat_model_config).properties!.credential_id);
  });

  it('gives every /schedule route a success schema, a 401, and error responses as problems with examples', () => {
    assert.ok(doc.paths['/health'].get, 'the health check is documented too');
    const scheduleRoutes = Object.entries(doc.paths).filter(([path]) => path.startsWith('/schedule'));
    const operations = scheduleRoutes.flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, path, op })),
    );
    assert.equal(operations.length, 18);
    for (const { route, path, op } of operations) {
      const codes = Object.keys(op.responses);
      const success = codes.find((c) => c.startsWith('2'))!;
      assert.ok(success, `${route} has a success response`);
      if (success !== '204') assert.ok(op.responses[success].content, `${route} documents its ${success} body`);
      assert.ok(codes.includes('401'), `${route} documents 401`);
      assert.ok(codes.includes('503'), `${route} documents 503`);
      if (path.includes('{schedule_id}')) assert.ok(codes.includes('404'), `${route} documents 404`);
      if (op.requestBody) assert.ok(codes.includes('422'), `${route} documents 422`);
      for (const code of codes.filter((c) => c >= '400')) {
        assert.deepEqual(Object.keys(op.responses[code].content!), [PROBLEM_JSON], `${route} ${code}`);
        const media = op.responses[code].content![PROBLEM_JSON];
        assert.match(media.schema.$ref!, PROBLEM_SCHEMA_REF, `${route} ${code}`);
        const examples = media.example ? [media.example] : Object.values(media.examples ?? {}).map((e) => e.value);
        assert.ok(examples.length > 0, `${route} ${code} has an example`);
        for (const example of examples as Array<{ status: number; instance: string }>) {
          assert.equal(example.status, Number(code), `${route} ${code}`);
          assert.equal(example.instance, path.replace('{schedule_id}', EXAMPLE_SCHEDULE_ID).replace('{run_id}', EXAMPLE_RUN_ID));
        }
      }
    }
  });

  it('shows realistic values, not "string": a cron, a time zone, a model config, ids', () => {
    const create = doc.components.schemas.CreateScheduleDto as Schema & { properties: Record<string, { example?: unknown }> };
    assert.equal(create.properties.cron_expression.example, '0 9 * * 1-5');
    assert.equal(create.properties.timezone.example, 'Asia/Shanghai');
    const model = doc.components.schemas.ChatModelConfigDto as Schema & { properties: Record<string, { example?: unknown }> };
    assert.deepEqual(
      Object.fromEntries(Object.entries(model.properties).map(([name, property]) => [name, property.example])),
      { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters: { temperature: 0.2 } },
    );
    const record = doc.components.schemas.ScheduleResponse as Schema & { properties: Record<string, { example?: unknown }> };
    assert.match(String(record.properties.id.example), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(record.properties.created_at.example, '2026-03-02T08:00:00.000Z');
  });

  it('documents the overlap policy, run timeout and history limit of a schedule, on create and in the record', () => {
    const create = resolve(doc.paths['/schedule'].post.requestBody!.content['application/json'].schema) as Schema & {
      properties: Record<string, Schema & { enum?: string[]; minimum?: number; maximum?: number; nullable?: boolean }>;
    };
    assert.deepEqual(create.properties.overlap_policy.enum, ['skip', 'buffer_one', 'allow', 'replace']);
    assert.deepEqual([create.properties.run_timeout_seconds.minimum, create.properties.run_timeout_seconds.maximum], [1, 604800]);
    assert.deepEqual([create.properties.history_limit.minimum, create.properties.history_limit.maximum], [1, 100000]);
    assert.equal(create.properties.history_limit.nullable, true);
    const record = resolve(doc.paths['/schedule/{schedule_id}'].get.responses['200'].content!['application/json'].schema);
    const data = resolve(record.properties!.data);
    for (const field of ['overlap_policy', 'run_timeout_seconds', 'history_limit']) assert.ok(data.properties![field], field);
  });

  it('documents every run status, finished_at and timeout_at, and one run with its attempts', () => {
    const op = doc.paths['/schedule/{schedule_id}/runs/{run_id}'].get;
    assert.deepEqual(op.parameters!.filter((p) => p.in === 'path').map((p) => p.name), ['schedule_id', 'run_id']);
    const run = resolve(op.responses['200'].content!['application/json'].schema) as Schema & {
      properties: Record<string, Schema & { enum?: string[] }>;
    };
    assert.deepEqual(run.properties.status.enum, [
      'pending',
      'dispatched',
      'running',
      'succeeded',
      'failed',
      'timed_out',
      'missed',
      'skipped',
      'cancelled',
    ]);
    for (const field of ['finished_at', 'timeout_at']) assert.ok(run.properties[field], field);
    const attempt = resolve(run.properties.attempts.items!);
    assert.deepEqual(Object.keys(attempt.properties!).sort(), ['at', 'duration_ms', 'error', 'status_code']);
    const fired = resolve(doc.paths['/schedule/{schedule_id}/run'].post.responses['202'].content!['application/json'].schema);
    assert.deepEqual(Object.keys(fired.properties!).sort(), ['run', 'session_id']);
  });

  it('has no runtime routes, nor their bearer scheme, without a runtime token; no 429 without a rate limit', () => {
    assert.deepEqual(Object.keys(doc.paths).filter((path) => path.startsWith('/runtime')), []);
    assert.equal(doc.components.securitySchemes?.['runtime-token'], undefined);
    for (const methods of Object.values(doc.paths)) for (const op of Object.values(methods)) assert.ok(!op.responses['429']);
  });

  it('documents the ETag of GET and PATCH, and If-Match with its 412 on PATCH', () => {
    const { get, patch } = doc.paths['/schedule/{schedule_id}'];
    for (const op of [get, patch]) assert.equal(op.responses['200'].headers?.ETag?.schema?.type, 'string');
    const ifMatch = patch.parameters!.find((p) => p.in === 'header' && p.name === 'If-Match');
    assert.ok(ifMatch && ifMatch.required === false && ifMatch.description);
    assert.ok(patch.responses['412'], 'PATCH documents 412');
    assert.ok(!get.responses['412'], 'GET takes no precondition');
  });
});

describe('API documentation of the runtime routes', () => {
  let testApp: TestApp;
  let doc: Doc;

  beforeAll(async () => {
    testApp = await createTestApp('memory', { runtimeToken: 'runtime-token-for-the-docs' });
    doc = await docsOf(testApp);
  });
  afterAll(() => testApp.close());

  it('documents both routes with the bearer scheme, their errors as problems, and no user header', () => {
    assert.deepEqual(doc.components.securitySchemes!['runtime-token'], {
      type: 'http',
      scheme: 'bearer',
      description: "The agent runtime's credential on /runtime routes: RUNTIME_TOKEN.",
    });
    const routes: Array<[string, string, string[]]> = [
      ['/runtime/runs/{run_id}/status', 'post', ['200', '400', '401', '404', '409', '413', '415', '422', '503']],
      ['/runtime/sessions/{session_id}/state', 'put', ['200', '400', '401', '404', '413', '415', '422', '503']],
    ];
    for (const [path, method, codes] of routes) {
      const op = doc.paths[path][method];
      assert.deepEqual(op.security, [{ 'runtime-token': [] }], path);
      assert.deepEqual(Object.keys(op.responses).sort(), codes, path);
      assert.ok(op.requestBody, `${path} documents its body`);
      assert.ok(!op.parameters!.some((p) => p.in === 'header' && p.name === 'x-user-id'), `${path} takes no user`);
      for (const code of codes.filter((c) => c >= '400')) {
        assert.match(op.responses[code].content![PROBLEM_JSON].schema.$ref!, PROBLEM_SCHEMA_REF, `${path} ${code}`);
      }
    }
    const state = doc.components.schemas.SessionStateDto as Schema & { required: string[] };
    assert.deepEqual(state.required.sort(), [
      'context',
      'cur_iter',
      'permission_context',
      'reply_id',
      'session_id',
      'summary',
      'tasks_context',
      'tool_context',
    ]);
  });
});

describe('API documentation in jwt mode', () => {
  let testApp: TestApp;
  let doc: Doc;

  beforeAll(async () => {
    testApp = await createTestApp('memory', {
      auth: {
        mode: 'jwt',
        jwt: {
          jwksUrl: null,
          publicKey: null,
          secret: 'a-secret-of-at-least-thirty-two-bytes!',
          algorithms: ['HS256'],
          issuer: 'https://id.example.com/',
          audience: 'schedule-service',
          userClaim: 'sub',
          clockToleranceSeconds: 30,
        },
      },
    });
    doc = await docsOf(testApp);
  });
  afterAll(() => testApp.close());

  it('offers one Authorize for a bearer JWT on every /schedule route, and no x-user-id', () => {
    const scheme = doc.components.securitySchemes!.user;
    const { description, ...rest } = scheme;
    assert.deepEqual(rest, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    assert.match(description!, /https:\/\/id\.example\.com\/.*schedule-service.*`sub`/);
    for (const [path, methods] of Object.entries(doc.paths).filter(([path]) => path.startsWith('/schedule'))) {
      for (const [method, op] of Object.entries(methods)) assert.deepEqual(op.security, [{ user: [] }], `${method} ${path}`);
    }
    assert.ok(!JSON.stringify(doc.paths).includes('x-user-id'), 'x-user-id is ignored in jwt mode');
  });

  it('documents the 401s the service answers, with their WWW-Authenticate challenges', async () => {
    const missing = await injectJson(testApp.app, 'GET', '/schedule');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], BEARER_CHALLENGE);
    assertDocumented(missing, exampleOf(doc, 'get', '/schedule', '401', 'missing_token'));
    const invalid = await injectJson(testApp.app, 'GET', '/schedule', { authorization: 'Bearer not.a.jwt' });
    assert.equal(invalid.status, 401);
    assert.equal(invalid.headers['www-authenticate'], INVALID_TOKEN_CHALLENGE);
    assertDocumented(invalid, exampleOf(doc, 'get', '/schedule', '401', 'invalid_token'));
    const header = doc.paths['/schedule'].get.responses['401'].headers?.['WWW-Authenticate'];
    assert.ok(header, 'the 401 documents WWW-Authenticate');
  });
});

describe('API documentation error examples', () => {
  const RUNTIME_TOKEN = aRuntimeToken();
  const LIMIT = 2;
  const PER_MINUTE = 30;
  let testApp: TestApp;
  let doc: Doc;
  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, headers: Record<string, string> = {}, body?: unknown) =>
    injectJson(testApp.app, method, url, headers, body);
  const as = (userId: string) => ({ 'x-user-id': userId });
  const runtime = { authorization: `Bearer ${RUNTIME_TOKEN}` };
  const create = async (userId: string, overrides: Record<string, unknown> = {}): Promise<string> => {
    const res = await call('POST', '/schedule', as(userId), aCreateBody(overrides));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.schedule_id;
  };
  const fire = async (userId: string, scheduleId: string): Promise<string> => {
    const res = await call('POST', `/schedule/${scheduleId}/run`, as(userId));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.run.id;
  };
  const aState = (overrides: Record<string, unknown> = {}) => ({
    session_id: EXAMPLE_SESSION_ID,
    summary: '',
    context: [],
    reply_id: null,
    cur_iter: 0,
    permission_context: { mode: 'dont_ask', working_directories: {}, allow_rules: {}, deny_rules: {}, ask_rules: {} },
    tool_context: { max_cache_files: 100, max_cache_bytes: 25000, read_file_cache: [], activated_groups: [] },
    tasks_context: { tasks: [] },
    ...overrides,
  });

  beforeAll(async () => {
    // SQLite, so that a missing table can stand in for an unreachable database (503).
    testApp = await createTestApp('sqlite', {
      runtimeToken: RUNTIME_TOKEN,
      dispatch: undeliveredDispatch(),
      limits: { maxSchedulesPerUser: LIMIT },
      rateLimit: { perMinute: PER_MINUTE, redisUrl: null },
    });
    doc = await docsOf(testApp);
  });
  afterAll(() => testApp.close());

  it('401: without an identity, and without the runtime token', async () => {
    const id = await create('alice');
    assertDocumented(await call('GET', `/schedule/${id}/sessions`), exampleOf(doc, 'get', '/schedule/{schedule_id}/sessions', '401'), [
      [id, EXAMPLE_SCHEDULE_ID],
    ]);
    const res = await call('POST', `/runtime/runs/${EXAMPLE_RUN_ID}/status`, {}, { status: 'running' });
    assertDocumented(res, exampleOf(doc, 'post', '/runtime/runs/{run_id}/status', '401'));
  });

  it('404: an unknown schedule, run or session', async () => {
    assertDocumented(
      await call('GET', `/schedule/${EXAMPLE_SCHEDULE_ID}`, as('bob')),
      exampleOf(doc, 'get', '/schedule/{schedule_id}', '404'),
    );
    assertDocumented(
      await call('POST', `/schedule/${EXAMPLE_SCHEDULE_ID}/run`, as('bob')),
      exampleOf(doc, 'post', '/schedule/{schedule_id}/run', '404'),
    );
    const id = await create('bob');
    assertDocumented(
      await call('GET', `/schedule/${id}/runs/${EXAMPLE_RUN_ID}`, as('bob')),
      exampleOf(doc, 'get', '/schedule/{schedule_id}/runs/{run_id}', '404'),
      [[id, EXAMPLE_SCHEDULE_ID]],
    );
    assertDocumented(
      await call('POST', `/runtime/runs/${EXAMPLE_RUN_ID}/status`, runtime, { status: 'running' }),
      exampleOf(doc, 'post', '/runtime/runs/{run_id}/status', '404'),
    );
    assertDocumented(
      await call('PUT', `/runtime/sessions/${EXAMPLE_SESSION_ID}/state`, runtime, aState()),
      exampleOf(doc, 'put', '/runtime/sessions/{session_id}/state', '404'),
    );
  });

  it('409: the schedule limit, a disabled or busy schedule, a run already final', async () => {
    for (let i = 0; i < LIMIT; i++) await create('carol');
    assertDocumented(await call('POST', '/schedule', as('carol'), aCreateBody()), exampleOf(doc, 'post', '/schedule', '409'), [
      // This app's limit, against the default the document states.
      [`You have ${LIMIT} schedules`, 'You have 1000 schedules'],
    ]);

    const disabled = await create('dave', { enabled: false });
    assertDocumented(
      await call('POST', `/schedule/${disabled}/run`, as('dave')),
      exampleOf(doc, 'post', '/schedule/{schedule_id}/run', '409', 'schedule_disabled'),
      [[disabled, EXAMPLE_SCHEDULE_ID]],
    );
    const busy = await create('dave');
    const runId = await fire('dave', busy);
    assertDocumented(
      await call('POST', `/schedule/${busy}/run`, as('dave')),
      exampleOf(doc, 'post', '/schedule/{schedule_id}/run', '409', 'schedule_busy'),
      [
        [busy, EXAMPLE_SCHEDULE_ID],
        [runId, EXAMPLE_RUN_ID],
      ],
    );

    assert.equal((await call('POST', `/runtime/runs/${runId}/status`, runtime, { status: 'succeeded' })).status, 200);
    assertDocumented(
      await call('POST', `/runtime/runs/${runId}/status`, runtime, { status: 'running' }),
      exampleOf(doc, 'post', '/runtime/runs/{run_id}/status', '409'),
      [[runId, EXAMPLE_RUN_ID]],
    );
  });

  it('412: If-Match naming an older version', async () => {
    const id = await create('erin');
    for (const name of ['v2', 'v3']) assert.equal((await call('PATCH', `/schedule/${id}`, as('erin'), { name })).status, 200);
    assertDocumented(
      await call('PATCH', `/schedule/${id}`, { ...as('erin'), 'if-match': '"2"' }, { name: 'v4' }),
      exampleOf(doc, 'patch', '/schedule/{schedule_id}', '412'),
      [[id, EXAMPLE_SCHEDULE_ID]],
    );
  });

  it('422: every field named in errors[]', async () => {
    const bad = aCreateBody({ cron_expression: '0 25 * * *', timezone: 'Mars/Olympus' });
    assertDocumented(await call('POST', '/schedule', as('frank'), bad), exampleOf(doc, 'post', '/schedule', '422'));
    const id = await create('frank');
    const replaceId: Array<[string, string]> = [[id, EXAMPLE_SCHEDULE_ID]];
    assertDocumented(
      await call('PATCH', `/schedule/${id}`, as('frank'), { cron_expression: '0 25 * * *', timezone: 'Mars/Olympus' }),
      exampleOf(doc, 'patch', '/schedule/{schedule_id}', '422', 'invalid_field'),
      replaceId,
    );
    for (const path of ['sessions', 'runs']) {
      assertDocumented(
        await call('GET', `/schedule/${id}/${path}?limit=0`, as('frank')),
        exampleOf(doc, 'get', `/schedule/{schedule_id}/${path}`, '422', 'invalid_field'),
        replaceId,
      );
    }
    assertDocumented(
      await call('GET', `/schedule/${id}/next-runs?count=101`, as('frank')),
      exampleOf(doc, 'get', '/schedule/{schedule_id}/next-runs', '422', 'invalid_field'),
      replaceId,
    );
    assertDocumented(
      await call('POST', `/runtime/runs/${EXAMPLE_RUN_ID}/status`, runtime, { status: 'done' }),
      exampleOf(doc, 'post', '/runtime/runs/{run_id}/status', '422', 'invalid_field'),
    );
    assertDocumented(
      await call('PUT', `/runtime/sessions/${EXAMPLE_SESSION_ID}/state`, runtime, aState({ cur_iter: -1 })),
      exampleOf(doc, 'put', '/runtime/sessions/{session_id}/state', '422', 'invalid_field'),
    );
  });

  it('422: a path parameter no record can have as its id, on every route that takes one', async () => {
    const id = await create('heidi');
    const bad = 'a\u0001b';
    const routes: Array<[method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, path: string, headers: Record<string, string>, body?: unknown]> = [
      ['GET', `/schedule/${encodeURIComponent(bad)}`, '/schedule/{schedule_id}', as('heidi')],
      ['PATCH', `/schedule/${encodeURIComponent(bad)}`, '/schedule/{schedule_id}', as('heidi'), { name: 'x' }],
      ['GET', `/schedule/${id}/runs/${encodeURIComponent(bad)}`, '/schedule/{schedule_id}/runs/{run_id}', as('heidi')],
      ['POST', `/runtime/runs/${encodeURIComponent(bad)}/status`, '/runtime/runs/{run_id}/status', runtime, { status: 'running' }],
    ];
    for (const [method, url, path, headers, body] of routes) {
      const example = exampleOf(doc, method.toLowerCase(), path, '422', 'invalid_path_parameter');
      // The example names the route's first path parameter; /runs/{run_id} is the second.
      const field = url.includes('/runs/a') && path.startsWith('/schedule') ? 'run_id' : undefined;
      const res = await call(method, url, headers, body);
      assert.equal(res.status, 422, `${method} ${url}`);
      if (field) assert.equal(res.body.errors[0].field, field);
      else assertDocumented(res, example, [[url.split('?')[0], (example as { instance: string }).instance]]);
    }
  });

  it('400, 413 and 415: a body that is not JSON text, too large, or not JSON; the identity sent twice', async () => {
    const raw = async (method: 'POST' | 'PUT', url: string, headers: Record<string, string | string[]>, payload: string) => {
      const res = await testApp.app.inject({ method, url, headers, payload });
      return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body) } as InjectedReply;
    };
    const json = { 'content-type': 'application/json' };
    // V8 words its JSON errors differently across Node versions: the parser's own message is not the contract.
    const parserMessage: [RegExp, string] = [/not valid JSON: [^"]*/, `not valid JSON: Expected ',' or '}' after property value in JSON at position 12`];
    assertDocumented(
      await raw('POST', '/schedule', { ...as('ivan'), ...json }, '{"name": "x" "cron": 1}'),
      exampleOf(doc, 'post', '/schedule', '400', 'malformed_json'),
      [parserMessage],
    );
    assertDocumented(
      await raw('PUT', `/runtime/sessions/${EXAMPLE_SESSION_ID}/state`, { ...runtime, ...json }, '{"name": "x" "cron": 1}'),
      exampleOf(doc, 'put', '/runtime/sessions/{session_id}/state', '400', 'malformed_json'),
      [parserMessage],
    );
    assertDocumented(
      await raw('POST', '/schedule', { ...as('ivan'), ...json }, JSON.stringify({ name: 'x'.repeat(2_000_000) })),
      exampleOf(doc, 'post', '/schedule', '413', 'body_too_large'),
    );
    assertDocumented(
      await raw('POST', '/schedule', { ...as('ivan'), 'content-type': 'text/plain' }, 'name=x'),
      exampleOf(doc, 'post', '/schedule', '415', 'not_json'),
    );
    // Sent twice, as two header lines (inject would join them into one; Node's setHeader writes an
    // array as one line per value, which superagent's types do not say).
    const twice = await request(testApp.app.getHttpServer()).get('/schedule').set('x-user-id', ['ivan', 'ivan'] as unknown as string);
    assertDocumented(
      { status: twice.status, headers: twice.headers, body: twice.body },
      exampleOf(doc, 'get', '/schedule', '400', 'duplicate_user_id'),
    );
  });

  it('429: past the rate limit, with Retry-After and the RateLimit headers', async () => {
    let res: InjectedReply | undefined;
    for (let i = 0; i <= PER_MINUTE; i++) res = await call('GET', '/schedule', as('grace'));
    assert.equal(res!.status, 429);
    assert.match(String(res!.headers['retry-after']), /^\d+$/);
    const documented = doc.paths['/schedule'].get.responses['429'];
    for (const header of Object.keys(documented.headers!)) assert.ok(res!.headers[header.toLowerCase()] !== undefined, header);
    assertDocumented(res!, exampleOf(doc, 'get', '/schedule', '429'), [[/retry in \d+ s/, 'retry in 37 s']]);
  });

  it('503: the database unreachable, with Retry-After', async () => {
    const id = await create('heidi');
    const dataSource = testApp.app.get(DataSource, { strict: false });
    await dataSource.query('ALTER TABLE schedules RENAME TO schedules_away');
    try {
      const res = await call('GET', `/schedule/${id}`, as('heidi'));
      assert.equal(res.headers['retry-after'], '5');
      assertDocumented(res, exampleOf(doc, 'get', '/schedule/{schedule_id}', '503'), [[id, EXAMPLE_SCHEDULE_ID]]);
    } finally {
      await dataSource.query('ALTER TABLE schedules_away RENAME TO schedules');
    }
  });
});
