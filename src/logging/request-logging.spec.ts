import assert from 'node:assert/strict';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createLogger } from './logger.js';
import { NestPinoLogger } from './nest-logger.js';
import { addRequestIdHooks, RequestLogController, requestIdFor } from './request-logging.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const withHeader = (value: string | string[] | undefined) => ({ headers: { 'x-request-id': value } }) as unknown as IncomingMessage;

describe('requestIdFor', () => {
  it("keeps a caller's sane id", () => {
    for (const id of ['a', 'req-1', '01HV3K.span:7', 'trace_id-9', 'A'.repeat(128)]) assert.equal(requestIdFor(withHeader(id)), id);
  });

  it('generates one for a missing, empty, long, repeated or odd id', () => {
    for (const value of [undefined, '', 'A'.repeat(129), 'a, b', ['a', 'b'], 'with space', 'tab\t', 'new\nline', '<script>', 'ünï', 'a/b']) {
      assert.match(requestIdFor(withHeader(value)), UUID, JSON.stringify(value));
    }
  });
});

describe('request log hooks on Fastify', () => {
  let server: FastifyInstance;
  let base: string;
  let text = '';
  let headersSeen: () => void = () => undefined;
  const records = (): Array<Record<string, any>> => text.split('\n').filter(Boolean).map((line) => JSON.parse(line));

  beforeAll(async () => {
    const out = new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    });
    const logger = createLogger({ logLevel: 'info', logFormat: 'json', metricsEnabled: true }, out);
    Logger.overrideLogger(new NestPinoLogger(logger));
    server = fastify({ loggerInstance: logger as FastifyBaseLogger, logController: new RequestLogController(), genReqId: requestIdFor });
    addRequestIdHooks(server);
    server.addHook('onRequest', (_request, _reply, done) => {
      headersSeen();
      done();
    });
    // A Nest log line from inside the handler, after the body was read.
    server.post('/things/:id', async (request) => {
      await new Promise((resolve) => setImmediate(resolve));
      new Logger('Handler').log('handling');
      (request as unknown as { user: { id: string } }).user = { id: 'alice' };
      return { ok: true };
    });
    server.get('/boom', async () => {
      throw new Error('boom');
    });
    base = await server.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await server.close();
    Logger.overrideLogger(false);
  });

  it('writes one line per request, and gives Nest lines written while serving it the request id', async () => {
    // The body's second half is sent once the server has the headers: it is read in another turn.
    const seen = new Promise<void>((resolve) => (headersSeen = resolve));
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${base}/things/t1?cursor=abc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'caller-7' },
      });
      req.on('response', (res) => res.resume().on('end', () => resolve(res)));
      req.on('error', reject);
      req.write('{"prompt":');
      void seen.then(() => req.end('"hello"}'));
    });
    const res = await answered;
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-request-id'], 'caller-7');
    const lines = records().filter((record) => record.request_id === 'caller-7');
    assert.deepEqual(
      lines.map(({ context, msg }) => ({ context, msg })),
      [
        { context: 'Handler', msg: 'handling' },
        { context: undefined, msg: 'request completed' },
      ],
    );
    const { method, route, path, status, user_id, duration_ms } = lines[1];
    assert.deepEqual({ method, route, path, status, user_id }, { method: 'POST', route: '/things/:id', path: '/things/t1', status: 200, user_id: 'alice' });
    assert.equal(typeof duration_ms, 'number');
    assert.doesNotMatch(text, /cursor|hello|incoming request/);
  });

  it('logs a failed request at error, and an unknown route as its 404', async () => {
    const failed = await fetch(`${base}/boom`);
    const missing = await fetch(`${base}/nowhere`);
    const failedLines = records().filter((record) => record.request_id === failed.headers.get('x-request-id'));
    const missingLines = records().filter((record) => record.request_id === missing.headers.get('x-request-id'));
    assert.equal(failedLines.at(-1)!.msg, 'request completed');
    assert.deepEqual([failedLines.at(-1)!.level, failedLines.at(-1)!.status], ['error', 500]);
    assert.deepEqual(
      missingLines.map(({ level, msg, status, route }) => ({ level, msg, status, route })),
      [{ level: 'info', msg: 'request completed', status: 404, route: undefined }],
    );
  });
});
