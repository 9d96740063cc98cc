import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { createTestApp, type TestApp } from './support/test-app.js';

type Schema = { $ref?: string; type?: string; items?: Schema; properties?: Record<string, Schema>; allOf?: Schema[] };
type Operation = {
  parameters?: Array<{ name: string; in: string; description?: string; required?: boolean }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, { schema?: Schema }> }>;
};

describe('API documentation', () => {
  let testApp: TestApp;
  let doc: {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Schema> };
  };

  beforeAll(async () => {
    testApp = (await createTestApp('memory')) as TestApp;
    doc = (await request(testApp.app.getHttpServer()).get('/docs-json').expect(200)).body;
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

  it('documents the sessions route as the contract page does', () => {
    const op = doc.paths['/schedule/{schedule_id}/sessions'].get;
    const path = op.parameters!.find((p) => p.in === 'path')!;
    assert.equal(path.name, 'schedule_id');
    const header = op.parameters!.find((p) => p.in === 'header')!;
    assert.equal(header.name, 'x-user-id');
    assert.equal(header.required, true);
    assert.equal(header.description, "Caller's user ID. Temporary header-based identity; will be replaced by JWT auth.");
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

  it('gives every /schedule route a success schema, a 401, and error responses with problem schemas', () => {
    assert.ok(doc.paths['/health'].get, 'the health check is documented too');
    const scheduleRoutes = Object.entries(doc.paths).filter(([path]) => path.startsWith('/schedule'));
    const operations = scheduleRoutes.flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, path, op })),
    );
    assert.equal(operations.length, 10);
    for (const { route, path, op } of operations) {
      const codes = Object.keys(op.responses);
      const success = codes.find((c) => c.startsWith('2'))!;
      assert.ok(success, `${route} has a success response`);
      if (success !== '204') assert.ok(op.responses[success].content, `${route} documents its ${success} body`);
      assert.ok(codes.includes('401'), `${route} documents 401`);
      if (path.includes('{schedule_id}')) assert.ok(codes.includes('404'), `${route} documents 404`);
      if (op.requestBody) assert.ok(codes.includes('422'), `${route} documents 422`);
      for (const code of codes.filter((c) => c >= '400')) {
        const schema = op.responses[code].content!['application/json'].schema;
        assert.equal(schema.$ref, '#/components/schemas/ProblemDetails', `${route} ${code}`);
      }
    }
  });

  it('documents the overlap policy, run timeout and history limit of a schedule, on create and in the record', () => {
    const create = resolve(doc.paths['/schedule'].post.requestBody!.content['application/json'].schema) as Schema & {
      properties: Record<string, Schema & { enum?: string[]; minimum?: number; maximum?: number; nullable?: boolean }>;
    };
    assert.deepEqual(create.properties.overlap_policy.enum, ['skip', 'buffer_one', 'allow']);
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
    ]);
    for (const field of ['finished_at', 'timeout_at']) assert.ok(run.properties[field], field);
    const attempt = resolve(run.properties.attempts.items!);
    assert.deepEqual(Object.keys(attempt.properties!).sort(), ['at', 'duration_ms', 'error', 'status_code']);
    const fired = resolve(doc.paths['/schedule/{schedule_id}/run'].post.responses['202'].content!['application/json'].schema);
    assert.deepEqual(Object.keys(fired.properties!).sort(), ['run', 'session_id']);
  });

  it('has no runtime routes, nor their bearer scheme, without a runtime token', () => {
    assert.deepEqual(Object.keys(doc.paths).filter((path) => path.startsWith('/runtime')), []);
    assert.equal((doc.components as { securitySchemes?: Record<string, unknown> }).securitySchemes?.['runtime-token'], undefined);
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
  let doc: {
    paths: Record<string, Record<string, Operation & { security?: Array<Record<string, string[]>> }>>;
    components: { schemas: Record<string, Schema>; securitySchemes: Record<string, { type: string; scheme: string }> };
  };

  beforeAll(async () => {
    testApp = await createTestApp('memory', { runtimeToken: 'runtime-token-for-the-docs' });
    doc = (await request(testApp.app.getHttpServer()).get('/docs-json').expect(200)).body;
  });
  afterAll(() => testApp.close());

  it('documents both routes with the bearer scheme, their errors as problems, and no user header', () => {
    assert.deepEqual(doc.components.securitySchemes['runtime-token'], {
      type: 'http',
      scheme: 'bearer',
      description: "The agent runtime's credential on /runtime routes: RUNTIME_TOKEN.",
    });
    const routes: Array<[string, string, string[]]> = [
      ['/runtime/runs/{run_id}/status', 'post', ['200', '401', '404', '409', '422', '503']],
      ['/runtime/sessions/{session_id}/state', 'put', ['200', '401', '404', '422', '503']],
    ];
    for (const [path, method, codes] of routes) {
      const op = doc.paths[path][method];
      assert.deepEqual(op.security, [{ 'runtime-token': [] }], path);
      assert.deepEqual(Object.keys(op.responses).sort(), codes, path);
      assert.ok(op.requestBody, `${path} documents its body`);
      assert.ok(!op.parameters!.some((p) => p.in === 'header' && p.name === 'x-user-id'), `${path} takes no user`);
      for (const code of codes.filter((c) => c >= '400')) {
        assert.equal(op.responses[code].content!['application/json'].schema.$ref, '#/components/schemas/ProblemDetails', `${path} ${code}`);
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
