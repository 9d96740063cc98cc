import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { aSchedule } from '../../test/support/builders.js';
import { fireWrite } from '../domain/fire.js';
import { toRunResponse } from '../wire/run.response.js';
import { toScheduleResponse } from '../wire/schedule.response.js';
import { toSessionResponse } from '../wire/session.response.js';
import { MAX_ANSWER_BYTES, MAX_ERROR_LENGTH, parseCompletion, storableError, webhookBody, WebhookSender } from './webhook.js';

const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes, fine.').toString('base64')}`;

function aDelivery() {
  const schedule = aSchedule();
  const fire = fireWrite(schedule, new Date('2026-03-02T08:00:00.000Z'), 'manual', undefined, true);
  return { run: fire.run, schedule, session: fire.session, attemptsMade: 0 };
}

describe('webhookBody', () => {
  it('is a schedule.fired event with the run, schedule and session as the API returns them', () => {
    const delivery = aDelivery();
    const body = JSON.parse(webhookBody(delivery, new Date('2026-03-02T08:00:01.500Z')));
    assert.deepEqual(body, {
      type: 'schedule.fired',
      timestamp: '2026-03-02T08:00:01.500Z',
      data: {
        run: JSON.parse(JSON.stringify(toRunResponse(delivery.run))),
        schedule: JSON.parse(JSON.stringify(toScheduleResponse(delivery.schedule))),
        session: JSON.parse(JSON.stringify(toSessionResponse(delivery.session))),
      },
    });
  });

  it('sends a null session when it is gone', () => {
    const body = JSON.parse(webhookBody({ ...aDelivery(), session: null }, new Date()));
    assert.equal(body.data.session, null);
  });
});

describe('parseCompletion', () => {
  it('reads a final status, with the error of a failure', () => {
    assert.deepEqual(parseCompletion('{"status":"succeeded"}'), { status: 'succeeded', error: null, usage: null });
    assert.deepEqual(parseCompletion('{"status":"succeeded","error":"ignored"}'), { status: 'succeeded', error: null, usage: null });
    assert.deepEqual(parseCompletion('{"status":"failed","error":"tool crashed","extra":1}'), { status: 'failed', error: 'tool crashed', usage: null });
    assert.deepEqual(parseCompletion('{"status":"failed"}'), { status: 'failed', error: null, usage: null });
  });

  it('reads the usage reported with it, and leaves out one that is not a usage', () => {
    const reported = (usage: unknown) => parseCompletion(JSON.stringify({ status: 'succeeded', usage }))?.usage;
    assert.deepEqual(reported({ input_tokens: 1200, output_tokens: 340, cost_usd: 0.0123 }), { inputTokens: 1200, outputTokens: 340, costUsd: 0.0123 });
    assert.deepEqual(reported({ input_tokens: 0, output_tokens: 0 }), { inputTokens: 0, outputTokens: 0, costUsd: null });
    assert.deepEqual(reported({ input_tokens: 1_000_000_000, output_tokens: 1, cost_usd: 1_000_000 }), { inputTokens: 1_000_000_000, outputTokens: 1, costUsd: 1_000_000 });
    for (const bad of [
      null,
      'lots',
      [],
      { input_tokens: 10 },
      { input_tokens: -1, output_tokens: 1 },
      { input_tokens: 1.5, output_tokens: 1 },
      { input_tokens: '10', output_tokens: 1 },
      { input_tokens: 1_000_000_001, output_tokens: 1 },
      { input_tokens: 1, output_tokens: 1, cost_usd: -0.01 },
      { input_tokens: 1, output_tokens: 1, cost_usd: '0.5' },
      { input_tokens: 1, output_tokens: 1, cost_usd: 1_000_001 },
    ]) {
      assert.equal(reported(bad), null, JSON.stringify(bad));
    }
    // The outcome counts all the same.
    assert.equal(parseCompletion('{"status":"failed","usage":{"input_tokens":-1}}')?.status, 'failed');
  });

  it('is null for anything else', () => {
    for (const text of [null, '', 'ok', '[]', 'null', '"succeeded"', '{}', '{"status":"running"}', '{"status":"failed","error":42}']) {
      assert.equal(parseCompletion(text), null, String(text));
    }
  });
});

describe('storableError', () => {
  it('bounds the length and drops what a database cannot store', () => {
    assert.equal(storableError('x'.repeat(10_000)).length, MAX_ERROR_LENGTH);
    assert.equal(storableError('a\u0000b\ud800c'), 'ab\ufffdc');
    assert.equal(storableError('HTTP 503'), 'HTTP 503');
  });
});

describe('WebhookSender', () => {
  interface Received {
    headers: IncomingHttpHeaders;
    body: string;
  }
  let server: Server;
  let url: string;
  let received: Received[] = [];
  let answer: (res: ServerResponse) => void = (res) => res.end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    received = [];
    answer = (res) => res.end();
  });
  const sender = (timeoutMs = 5000, to = url) => new WebhookSender({ url: to, secret: SECRET, timeoutMs, connections: 4 });

  it('POSTs the body signed per Standard Webhooks, the run id as webhook-id', async () => {
    const body = webhookBody(aDelivery(), new Date('2026-03-02T08:00:00.000Z'));
    const sent = await sender().send('run-1', body);
    assert.deepEqual(sent.answer, { statusCode: 200, retryAfter: null, completion: null });
    assert.ok(sent.durationMs >= 0);
    const [request] = received;
    assert.equal(request.body, body);
    assert.equal(request.headers['content-type'], 'application/json');
    assert.match(request.headers['user-agent'] ?? '', /^schedule-service/);
    assert.equal(request.headers['webhook-id'], 'run-1');
    // The wall clock, whatever the body's timestamp says: receivers check it against theirs.
    assert.ok(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000) < 5);
    const headers = request.headers as Record<string, string>;
    assert.deepEqual(new Webhook(SECRET).verify(request.body, headers), JSON.parse(body));
    assert.throws(() => new Webhook(SECRET).verify(request.body.replace('schedule.fired', 'schedule.fireD'), headers));
  });

  it('reads a completion from a 2xx body, and Retry-After from any answer', async () => {
    answer = (res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"failed","error":"no tools","usage":{"input_tokens":90,"output_tokens":0}}');
    assert.deepEqual((await sender().send('run-1', '{}')).answer, {
      statusCode: 200,
      retryAfter: null,
      completion: { status: 'failed', error: 'no tools', usage: { inputTokens: 90, outputTokens: 0, costUsd: null } },
    });
    answer = (res) => res.writeHead(429, { 'retry-after': '120' }).end('{"status":"succeeded"}');
    assert.deepEqual((await sender().send('run-1', '{}')).answer, { statusCode: 429, retryAfter: '120', completion: null });
  });

  it('reads no more than 64 KiB of the answer: a longer one is no completion', async () => {
    const padding = ' '.repeat(MAX_ANSWER_BYTES);
    answer = (res) => res.writeHead(200).end(`{"status":"succeeded"}${padding}`);
    assert.deepEqual((await sender().send('run-1', '{}')).answer, { statusCode: 200, retryAfter: null, completion: null });
  });

  it('does not follow a redirect', async () => {
    answer = (res) => res.writeHead(307, { location: '/elsewhere' }).end();
    assert.deepEqual((await sender().send('run-1', '{}')).answer, { statusCode: 307, retryAfter: null, completion: null });
    assert.equal(received.length, 1);
  });

  it('times out a slow answer, its body included', async () => {
    answer = (res) => {
      res.writeHead(200);
      res.write('{"status":');
    };
    const sent = await sender(200).send('run-1', '{}');
    assert.deepEqual(sent.answer, { statusCode: null, error: 'timed out after 200 ms' });
    assert.ok(sent.durationMs >= 150, `${sent.durationMs}`);
  });

  it('says why a connection failed, without the URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await sender(5000, `http://127.0.0.1:${port}/`).send('run-1', '{}');
    assert.deepEqual(refused.answer, { statusCode: null, error: `connect ECONNREFUSED 127.0.0.1:${port}` });
    const withCredentials = `http://user:s3cret@127.0.0.1:${port}/`;
    const refusedAtOnce = await sender(5000, withCredentials).send('run-1', '{}');
    assert.equal(refusedAtOnce.answer.statusCode, null);
    assert.doesNotMatch(JSON.stringify(refusedAtOnce.answer), /s3cret/);
  });
});
