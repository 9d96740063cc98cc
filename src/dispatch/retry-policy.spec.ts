import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import {
  type AttemptAnswer,
  attemptError,
  backoffDelayMs,
  BACKOFF_CAP_MS,
  classifyStatus,
  deliveryResult,
  RETRY_AFTER_CAP_MS,
  retryAfterDelayMs,
} from './retry-policy.js';

const NOW = new Date('2026-03-02T08:00:00.000Z');
const ALMOST_ONE = 1 - Number.EPSILON;
const answered = (statusCode: number, retryAfter: string | null = null): AttemptAnswer => ({ statusCode, retryAfter, completion: null });
const noAnswer = (error = 'connect ECONNREFUSED 127.0.0.1:9'): AttemptAnswer => ({ statusCode: null, error });
const delayOf = (result: ReturnType<typeof deliveryResult>): number => {
  assert.equal(result.outcome, 'retry');
  return result.nextAttemptAt.getTime() - NOW.getTime();
};

describe('classifyStatus', () => {
  it('delivers on every 2xx', () => {
    for (const status of [200, 201, 202, 204, 299]) assert.equal(classifyStatus(status), 'delivered', `${status}`);
  });

  it('retries 408, 429 and every 5xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599]) assert.equal(classifyStatus(status), 'transient', `${status}`);
  });

  it('gives up on any other 4xx and on redirects', () => {
    for (const status of [300, 301, 302, 307, 308, 400, 401, 403, 404, 409, 410, 413, 422, 451]) {
      assert.equal(classifyStatus(status), 'permanent', `${status}`);
    }
  });
});

describe('backoffDelayMs', () => {
  it('is 0 with random = 0, whatever the attempt', () => {
    for (let made = 0; made <= 20; made++) assert.equal(backoffDelayMs(made, () => 0), 0);
  });

  it('doubles its ceiling from 1 s per attempt made, up to 5 minutes', () => {
    const ceilings = [0, 1, 2, 3, 4, 7, 8, 9, 19].map((made) => backoffDelayMs(made, () => ALMOST_ONE) + 1);
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16_000, 128_000, 256_000, BACKOFF_CAP_MS, BACKOFF_CAP_MS]);
  });

  it('stays within [0, ceiling) for any random value', () => {
    for (let i = 0; i < 1000; i++) {
      const delay = backoffDelayMs(2);
      assert.ok(delay >= 0 && delay < 4000, `${delay}`);
    }
  });
});

describe('retryAfterDelayMs', () => {
  it('reads delta-seconds', () => {
    assert.equal(retryAfterDelayMs('120', NOW), 120_000);
    assert.equal(retryAfterDelayMs(' 0 ', NOW), 0);
  });

  it('reads an HTTP-date against now; a past one means at once', () => {
    assert.equal(retryAfterDelayMs('Mon, 02 Mar 2026 08:02:30 GMT', NOW), 150_000);
    assert.equal(retryAfterDelayMs('Mon, 02 Mar 2026 07:00:00 GMT', NOW), 0);
  });

  it('bounds a long one at an hour', () => {
    assert.equal(retryAfterDelayMs('999999999999', NOW), RETRY_AFTER_CAP_MS);
    assert.equal(retryAfterDelayMs('Fri, 01 Jan 2100 00:00:00 GMT', NOW), RETRY_AFTER_CAP_MS);
  });

  it('ignores what is neither form', () => {
    for (const header of ['', 'soon', '-5', '1.5', '12abc', 'Tomorrow at noon']) assert.equal(retryAfterDelayMs(header, NOW), null, header);
  });
});

describe('attemptError', () => {
  it('names the status of a refused answer, and is null for a delivered one', () => {
    assert.equal(attemptError(answered(503)), 'HTTP 503');
    assert.equal(attemptError(answered(302)), 'HTTP 302 (redirects are not followed)');
    assert.equal(attemptError(answered(204)), null);
    assert.equal(attemptError(noAnswer('timed out after 10000 ms')), 'timed out after 10000 ms');
  });
});

describe('deliveryResult', () => {
  it('delivers a plain 2xx and completes one whose body carried the outcome', () => {
    assert.deepEqual(deliveryResult(answered(202), 0, 8, NOW), { outcome: 'delivered' });
    const completion = { status: 'failed' as const, error: 'boom', usage: { inputTokens: 120, outputTokens: 30, costUsd: null } };
    assert.deepEqual(deliveryResult({ statusCode: 200, retryAfter: null, completion }, 0, 8, NOW), {
      outcome: 'completed',
      status: 'failed',
      error: 'boom',
      usage: { inputTokens: 120, outputTokens: 30, costUsd: null },
    });
  });

  it('gives up at once on a permanent failure', () => {
    assert.deepEqual(deliveryResult(answered(400), 0, 8, NOW), { outcome: 'gave-up', error: 'HTTP 400' });
    assert.deepEqual(deliveryResult(answered(301), 0, 8, NOW), { outcome: 'gave-up', error: 'HTTP 301 (redirects are not followed)' });
  });

  it('retries transient failures after the jittered backoff of the attempts made', () => {
    assert.equal(delayOf(deliveryResult(answered(500), 0, 8, NOW, () => 0)), 0);
    assert.equal(delayOf(deliveryResult(answered(500), 0, 8, NOW, () => ALMOST_ONE)), 999);
    assert.equal(delayOf(deliveryResult(noAnswer(), 1, 8, NOW, () => ALMOST_ONE)), 1999);
    assert.equal(delayOf(deliveryResult(answered(408), 2, 8, NOW, () => 0.5)), 2000);
    assert.equal(delayOf(deliveryResult(answered(429), 6, 8, NOW, () => ALMOST_ONE)), 63_999);
    assert.equal(delayOf(deliveryResult(answered(502), 12, 50, NOW, () => ALMOST_ONE)), BACKOFF_CAP_MS - 1);
  });

  it('honours Retry-After on 429 and 503 instead of the backoff, and only there', () => {
    assert.equal(delayOf(deliveryResult(answered(429, '120'), 0, 8, NOW, () => 0)), 120_000);
    assert.equal(delayOf(deliveryResult(answered(503, 'Mon, 02 Mar 2026 08:00:30 GMT'), 0, 8, NOW, () => 0)), 30_000);
    assert.equal(delayOf(deliveryResult(answered(429, '86400'), 0, 8, NOW, () => 0)), RETRY_AFTER_CAP_MS);
    assert.equal(delayOf(deliveryResult(answered(500, '120'), 0, 8, NOW, () => 0)), 0);
    assert.equal(delayOf(deliveryResult(answered(429, 'later'), 0, 8, NOW, () => 0)), 0);
  });

  it('gives up with the last error on the last attempt, whatever the failure', () => {
    assert.deepEqual(deliveryResult(answered(503, '1'), 7, 8, NOW), { outcome: 'gave-up', error: 'HTTP 503 (gave up after 8 attempts)' });
    assert.deepEqual(deliveryResult(noAnswer('timed out after 300 ms'), 2, 3, NOW), {
      outcome: 'gave-up',
      error: 'timed out after 300 ms (gave up after 3 attempts)',
    });
    assert.deepEqual(deliveryResult(noAnswer('x'), 0, 1, NOW), { outcome: 'gave-up', error: 'x (gave up after 1 attempt)' });
    assert.equal(deliveryResult(answered(500), 6, 8, NOW).outcome, 'retry');
  });
});
