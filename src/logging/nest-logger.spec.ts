import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createLogger } from './logger.js';
import { NestPinoLogger } from './nest-logger.js';
import { runInRequest } from './request-context.js';

let text: string;
const records = (): Array<Record<string, any>> => text.split('\n').filter(Boolean).map((line) => JSON.parse(line));

beforeEach(() => {
  text = '';
  const out = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  });
  Logger.overrideLogger(new NestPinoLogger(createLogger({ logLevel: 'trace', logFormat: 'json', metricsEnabled: true }, out)));
});
afterEach(() => Logger.overrideLogger(false));

describe('NestPinoLogger', () => {
  it("writes Nest's levels as pino's, with the Logger's context", () => {
    const logger = new Logger('SchedulerService');
    logger.log('ticking');
    logger.warn('behind');
    logger.debug('claimed 3');
    logger.verbose('details');
    logger.fatal('gone');
    assert.deepEqual(
      records().map(({ level, context, msg }) => ({ level, context, msg })),
      [
        { level: 'info', context: 'SchedulerService', msg: 'ticking' },
        { level: 'warn', context: 'SchedulerService', msg: 'behind' },
        { level: 'debug', context: 'SchedulerService', msg: 'claimed 3' },
        { level: 'trace', context: 'SchedulerService', msg: 'details' },
        { level: 'fatal', context: 'SchedulerService', msg: 'gone' },
      ],
    );
  });

  it('writes an error with its stack as err, with or without a context', () => {
    const error = new Error('storage down');
    new Logger('DispatcherService').error('delivery failed', error.stack);
    new Logger('DispatcherService').error('no stack');
    Logger.error('static', error.stack);
    new Logger().error(error);
    const [withContext, withoutStack, staticOne, errorObject] = records();
    assert.equal(withContext.level, 'error');
    assert.equal(withContext.context, 'DispatcherService');
    assert.equal(withContext.msg, 'delivery failed');
    assert.match(withContext.err.stack, /storage down\n\s+at /);
    assert.deepEqual([withoutStack.context, withoutStack.msg, withoutStack.err], ['DispatcherService', 'no stack', undefined]);
    assert.equal(staticOne.context, undefined);
    assert.match(staticOne.err.stack, /\n\s+at /);
    assert.equal(errorObject.msg, 'storage down');
    assert.equal(errorObject.err.type, 'Error');
    assert.match(errorObject.err.stack, /\n\s+at /);
  });

  it('carries the id of the request being served', () => {
    runInRequest('req-42', () => new Logger('ProblemDetailsFilter').error('GET /schedule failed'));
    new Logger('SchedulerService').log('outside any request');
    assert.deepEqual(
      records().map((record) => record.request_id),
      ['req-42', undefined],
    );
  });

  it('keeps an object message and extra parameters as details', () => {
    new Logger('X').log({ claimed: 3 });
    new Logger('X').warn('late', { lag_ms: 1200 });
    const [object, extra] = records();
    assert.deepEqual([object.context, object.details, object.msg], ['X', { claimed: 3 }, undefined]);
    assert.deepEqual([extra.context, extra.details, extra.msg], ['X', [{ lag_ms: 1200 }], 'late']);
  });
});
