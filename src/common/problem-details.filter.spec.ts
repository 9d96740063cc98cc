import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { type ArgumentsHost, Logger, type LoggerService, NotFoundException } from '@nestjs/common';
import { ScheduleNotFound, StorageUnavailable } from './domain-errors.js';
import { LogThrottle } from './log-throttle.js';
import { MAX_DETAIL_LENGTH, MAX_INSTANCE_LENGTH, type ProblemDetails } from './problem-details.js';
import { ProblemDetailsFilter } from './problem-details.filter.js';

interface Sent {
  status?: number;
  headers: Record<string, string>;
  body?: unknown;
}

function hostFor(sent: Sent, url = '/schedule?x=1'): ArgumentsHost {
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    header(name: string, value: string) {
      sent.headers[name] = value;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  const request = { method: 'GET', url };
  return { switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }) } as unknown as ArgumentsHost;
}

let lines: Array<{ level: string; message: string }>;
beforeEach(() => {
  lines = [];
  const capture = (level: string) => (message: unknown) => void lines.push({ level, message: String(message) });
  const logger: LoggerService = { log: capture('log'), warn: capture('warn'), error: capture('error') };
  Logger.overrideLogger(logger);
});
afterEach(() => Logger.overrideLogger(false));

describe('ProblemDetailsFilter', () => {
  let now = 0;
  const filter = () => new ProblemDetailsFilter(new LogThrottle(10_000, () => now));

  it('answers a storage outage 503 with Retry-After, logging one line per interval with the count', () => {
    const f = filter();
    let sent: Sent = { headers: {} };
    for (let i = 0; i < 100; i++) {
      sent = { headers: {} };
      f.catch(new StorageUnavailable(undefined, { cause: new Error('connect ECONNREFUSED 10.0.0.1:5432') }), hostFor(sent));
    }
    assert.equal(sent.status, 503);
    assert.equal(sent.headers['retry-after'], '5');
    assert.equal(sent.headers['content-type'], 'application/problem+json');
    assert.deepEqual(lines, [{ level: 'warn', message: 'Storage unavailable, answering 503: connect ECONNREFUSED 10.0.0.1:5432' }]);
    now += 10_000;
    f.catch(new StorageUnavailable(), hostFor({ headers: {} }));
    assert.match(lines[1].message, /\(99 more like this since the last report\)$/);
  });

  it('logs unexpected errors once per interval too, and answers each 500', () => {
    const f = filter();
    const sent: Sent = { headers: {} };
    for (let i = 0; i < 20; i++) f.catch(new TypeError(`bad ${i}`), hostFor(sent));
    assert.equal(sent.status, 500);
    assert.equal(sent.headers['retry-after'], undefined);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].level, 'error');
    assert.equal(lines[0].message, 'GET /schedule failed');
  });

  it('sends no Retry-After and logs nothing for the client’s own errors', () => {
    const sent: Sent = { headers: {} };
    filter().catch(new ScheduleNotFound('s'), hostFor(sent));
    assert.equal(sent.status, 404);
    assert.equal(sent.headers['retry-after'], undefined);
    assert.deepEqual(lines, []);
  });

  it('echoes at most MAX_INSTANCE_LENGTH characters of the path and MAX_DETAIL_LENGTH of the detail, ending cut text with an ellipsis', () => {
    const path = `/schedule/${'a'.repeat(12 * 1024)}`;
    const sent: Sent = { headers: {} };
    filter().catch(new NotFoundException(`Cannot GET ${path}`), hostFor(sent, `${path}?q=${'b'.repeat(1000)}`));
    const problem = sent.body as ProblemDetails;
    assert.equal(sent.status, 404);
    assert.equal(problem.instance, `${path.slice(0, MAX_INSTANCE_LENGTH)}…`);
    assert.equal(problem.detail, `Cannot GET ${path}`.slice(0, MAX_DETAIL_LENGTH) + '…');
    assert.ok(JSON.stringify(problem).length < 2 * 1024, `${JSON.stringify(problem).length} characters`);

    const short: Sent = { headers: {} };
    filter().catch(new NotFoundException('Cannot GET /schedule'), hostFor(short));
    assert.equal((short.body as ProblemDetails).instance, '/schedule');
  });
});
