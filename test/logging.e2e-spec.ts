import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken, undeliveredDispatch } from './support/dispatch.js';
import { createTestApp, type TestApp } from './support/test-app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Everything the service writes, as the text it wrote. */
class CapturedLog extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += String(chunk);
    callback();
  }
  lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '');
  }
  records(): Array<Record<string, any>> {
    return this.lines().map((line) => JSON.parse(line));
  }
  requestLines(): Array<Record<string, any>> {
    return this.records().filter((record) => record.msg === 'request completed');
  }
}

describe('logs', () => {
  const log = new CapturedLog();
  const runtimeToken = aRuntimeToken();
  const dispatch = undeliveredDispatch();
  // What a caller sends that must never reach the log, each unique so a hit is certain.
  const marker = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;
  const bearerToken = marker('bearer');
  const bodyMarker = marker('body');
  const cookieMarker = marker('cookie');
  const queryMarker = marker('query');
  const wrongRuntimeToken = marker('wrong-runtime-token');
  let testApp: TestApp;
  const http = () => request(testApp.app.getHttpServer());

  beforeAll(async () => {
    testApp = await createTestApp('memory', { logStream: log, runtimeToken, dispatch });
  });
  afterAll(() => testApp?.close());

  it('writes JSON lines only, Nest\'s own among them, with level names, times and the service', () => {
    const records = log.records();
    assert.ok(records.length > 0);
    for (const record of records) {
      assert.equal(typeof record.level, 'string');
      assert.ok(!Number.isNaN(Date.parse(record.time)), record.time);
      assert.equal(record.service, 'schedule-service');
    }
    const started = records.find((record) => record.context === 'NestApplication');
    assert.ok(started, `no line of Nest's own in ${log.text}`);
    assert.equal(started.level, 'info');
    assert.match(started.msg, /started/);
  });

  it('writes one line per request, with the request id it echoes', async () => {
    const before = log.requestLines().length;
    const created = await http().post('/schedule').set('x-user-id', 'alice').send(aCreateBody()).expect(201);
    const scheduleId = created.body.schedule_id;
    const read = await http().get(`/schedule/${scheduleId}?limit=1`).set('x-user-id', 'alice').expect(200);
    const missing = await http().get('/nowhere').expect(404);
    const anonymous = await http().get('/schedule').expect(401);

    const lines = log.requestLines().slice(before);
    assert.equal(lines.length, 4, JSON.stringify(lines));
    const [createLine, readLine, missingLine, anonymousLine] = lines;
    for (const [res, line] of [
      [created, createLine],
      [read, readLine],
      [missing, missingLine],
      [anonymous, anonymousLine],
    ] as const) {
      assert.match(res.headers['x-request-id'], UUID);
      assert.equal(line.request_id, res.headers['x-request-id']);
      assert.equal(line.status, res.status);
      assert.equal(typeof line.duration_ms, 'number');
      assert.ok(line.duration_ms >= 0);
    }
    assert.deepEqual(
      { method: createLine.method, route: createLine.route, path: createLine.path, user_id: createLine.user_id, level: createLine.level },
      { method: 'POST', route: '/schedule', path: '/schedule', user_id: 'alice', level: 'info' },
    );
    // The route template, and the path without its query string.
    assert.equal(readLine.route, '/schedule/:schedule_id');
    assert.equal(readLine.path, `/schedule/${scheduleId}`);
    assert.equal(missingLine.route, undefined);
    assert.equal(missingLine.path, '/nowhere');
    assert.equal(anonymousLine.user_id, undefined);
  });

  it('keeps a sane x-request-id and replaces one that is too long, has spaces or control characters, or is repeated', async () => {
    const sane = 'req-01HV.trace:42_x';
    const kept = await http().get('/schedule').set('x-user-id', 'alice').set('x-request-id', sane).expect(200);
    assert.equal(kept.headers['x-request-id'], sane);
    assert.equal(log.requestLines().at(-1)!.request_id, sane);

    const longest = 'a'.repeat(128);
    assert.equal((await http().get('/schedule').set('x-user-id', 'alice').set('x-request-id', longest)).headers['x-request-id'], longest);

    for (const insane of ['a'.repeat(129), 'has spaces', 'tab\tinside', 'quote"d', 'ünicode', '']) {
      const res = await http().get('/schedule').set('x-user-id', 'alice').set('x-request-id', insane).expect(200);
      assert.match(res.headers['x-request-id'], UUID, JSON.stringify(insane));
      assert.equal(log.requestLines().at(-1)!.request_id, res.headers['x-request-id']);
      assert.ok(!log.text.includes(insane === '' ? '"request_id":""' : insane), `${JSON.stringify(insane)} was logged`);
    }
    // What Node makes of a repeated header: "first, second".
    const repeated = await http().get('/schedule').set('x-user-id', 'alice').set('x-request-id', 'first, second').expect(200);
    assert.match(repeated.headers['x-request-id'], UUID);
  });

  it('never writes tokens, secrets, cookies, query strings or bodies', async () => {
    const created = await http()
      .post('/schedule')
      .set('x-user-id', 'alice')
      .set('authorization', `Bearer ${bearerToken}`)
      .set('cookie', `session=${cookieMarker}`)
      .send(aCreateBody({ name: bodyMarker, description: bodyMarker }))
      .expect(201);
    await http()
      .post('/schedule')
      .set('x-user-id', 'alice')
      .send(aCreateBody({ name: bodyMarker, cron_expression: bodyMarker }))
      .expect(422);
    await http().post('/schedule').set('x-user-id', 'alice').set('content-type', 'application/json').send(`{"name":"${bodyMarker}"`).expect(400);
    await http().get(`/schedule?cursor=${queryMarker}&limit=5`).set('x-user-id', 'alice').set('authorization', `Bearer ${bearerToken}`);
    await http().patch(`/schedule/${created.body.schedule_id}`).set('x-user-id', 'alice').send({ description: bodyMarker }).expect(200);
    // The runtime's routes, with its token and with a wrong one.
    await http()
      .post(`/runtime/runs/${marker('run')}/status`)
      .set('authorization', `Bearer ${runtimeToken}`)
      .send({ status: 'succeeded', error: bodyMarker })
      .expect((res) => assert.ok(res.status >= 400 && res.status < 500, String(res.status)));
    await http()
      .post('/runtime/runs/r/status')
      .set('authorization', `Bearer ${wrongRuntimeToken}`)
      .send({ status: 'succeeded' })
      .expect(401);

    const text = log.text;
    assert.ok(log.requestLines().length >= 7);
    for (const [name, secret] of [
      ['bearer token', bearerToken],
      ['runtime token', runtimeToken],
      ['wrong runtime token', wrongRuntimeToken],
      ['dispatch secret', dispatch.secret],
      ['dispatch secret body', dispatch.secret.slice('whsec_'.length)],
      ['cookie', cookieMarker],
      ['query string', queryMarker],
      ['body', bodyMarker],
    ]) {
      assert.ok(!text.includes(secret), `the ${name} was logged`);
    }
    assert.doesNotMatch(text, /authorization|cookie/i);
  });
});

describe('logs at LOG_LEVEL=warn', () => {
  const log = new CapturedLog();
  let testApp: TestApp;

  beforeAll(async () => {
    testApp = await createTestApp('memory', { logStream: log, observability: { logLevel: 'warn', logFormat: 'json', metricsEnabled: false } });
  });
  afterAll(() => testApp?.close());

  it('leaves out info lines: start-up and answered requests', async () => {
    await request(testApp.app.getHttpServer()).get('/schedule').set('x-user-id', 'alice').expect(200);
    await request(testApp.app.getHttpServer()).get('/schedule').expect(401);
    assert.deepEqual(log.records().filter((record) => record.level === 'info'), []);
    assert.deepEqual(log.requestLines(), []);
  });
});
