import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from '@jest/globals';
import { createLogger } from './logger.js';

/** Collects what a logger writes; `next()` resolves on the next write (pino-pretty writes asynchronously). */
class Captured extends Writable {
  text = '';
  private waiting: Array<() => void> = [];
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += String(chunk);
    this.waiting.splice(0).forEach((resolve) => resolve());
    callback();
  }
  next(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  records(): Array<Record<string, any>> {
    return this.text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  }
}

describe('createLogger', () => {
  it('writes JSON lines with the level by name, an ISO time and the service', () => {
    const out = new Captured();
    const logger = createLogger({ logLevel: 'info', logFormat: 'json', metricsEnabled: true }, out);
    logger.info({ run_id: 'r1' }, 'fired');
    logger.debug('not at info');
    const [record, ...rest] = out.records();
    assert.deepEqual(rest, []);
    assert.equal(record.level, 'info');
    assert.equal(new Date(record.time).toISOString(), record.time);
    assert.equal(record.service, 'schedule-service');
    assert.equal(typeof record.pid, 'number');
    assert.equal(record.run_id, 'r1');
    assert.equal(record.msg, 'fired');
  });

  it('honours LOG_LEVEL', () => {
    const out = new Captured();
    const logger = createLogger({ logLevel: 'debug', logFormat: 'json', metricsEnabled: true }, out);
    logger.debug('shown');
    logger.trace('hidden');
    assert.deepEqual(out.records().map((record) => record.level), ['debug']);
  });

  it('redacts credentials, headers and bodies a caller might pass by mistake', () => {
    const out = new Captured();
    const logger = createLogger({ logLevel: 'info', logFormat: 'json', metricsEnabled: true }, out);
    logger.info({
      authorization: 'Bearer top-1',
      token: 'top-2',
      secret: 'top-3',
      headers: { authorization: 'Bearer top-4', cookie: 'top-5' },
      dispatch: { secret: 'top-6' },
      body: { prompt: 'top-7' },
    });
    logger.info({ req: { method: 'GET', url: '/schedule?cursor=top-8', headers: { authorization: 'top-9' }, body: 'top-10' } });
    assert.doesNotMatch(out.text, /top-/);
    assert.deepEqual(out.records()[1].req, { method: 'GET', path: '/schedule' });
  });

  it('writes readable lines with LOG_FORMAT=pretty', async () => {
    const out = new Captured();
    const logger = createLogger({ logLevel: 'info', logFormat: 'pretty', metricsEnabled: true }, out);
    const written = out.next();
    logger.child({ context: 'DispatcherService' }).warn({ run_id: 'r1' }, 'slow delivery');
    await written;
    assert.match(out.text, /WARN.*\[DispatcherService\] slow delivery/);
    assert.match(out.text, /run_id: "r1"/);
    assert.throws(() => JSON.parse(out.text));
    const request = out.next();
    logger.info({ request_id: 'q1', method: 'GET', route: '/schedule', path: '/schedule', status: 200, duration_ms: 3.5 }, 'request completed');
    await request;
    assert.match(out.text, /INFO.*request completed GET \/schedule 200 3\.5 ms/);
    assert.match(out.text, /request_id: "q1"/);
  });
});
