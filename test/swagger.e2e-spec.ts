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
    assert.equal(operations.length, 9);
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

  it('documents the ETag of GET and PATCH, and If-Match with its 412 on PATCH', () => {
    const { get, patch } = doc.paths['/schedule/{schedule_id}'];
    for (const op of [get, patch]) assert.equal(op.responses['200'].headers?.ETag?.schema?.type, 'string');
    const ifMatch = patch.parameters!.find((p) => p.in === 'header' && p.name === 'If-Match');
    assert.ok(ifMatch && ifMatch.required === false && ifMatch.description);
    assert.ok(patch.responses['412'], 'PATCH documents 412');
    assert.ok(!get.responses['412'], 'GET takes no precondition');
  });
});
