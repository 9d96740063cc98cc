import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { type Budget, budgetExhausted, type PeriodUse, periodResetsAt, periodStart, periodUseAt } from './budget.js';

const utc = (iso: string) => new Date(iso);
const period = (p: Budget['period'], timezone: string, at: string) => {
  const startsAt = periodStart(p, timezone, utc(at));
  return [startsAt.toISOString(), periodResetsAt(p, timezone, startsAt).toISOString()];
};

describe('budget periods', () => {
  it('start at local midnight, and a day a clock change shortens or lengthens is 23 or 25 hours long', () => {
    assert.deepEqual(period('day', 'Europe/Berlin', '2026-03-29T12:00:00Z'), ['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    assert.deepEqual(period('day', 'Europe/Berlin', '2026-10-25T12:00:00Z'), ['2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z']);
  });

  it('start a day whose midnight a clock change skips at the first instant after the gap (America/Santiago)', () => {
    // 2026-09-06 00:00 does not exist there: the clocks go from 23:59:59 -04 to 01:00 -03.
    assert.deepEqual(period('day', 'America/Santiago', '2026-09-05T12:00:00Z'), ['2026-09-05T04:00:00.000Z', '2026-09-06T04:00:00.000Z']);
    assert.deepEqual(period('day', 'America/Santiago', '2026-09-06T04:00:00Z'), ['2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z']);
  });

  it('hold their first instant and not their last', () => {
    assert.deepEqual(period('day', 'UTC', '2026-05-01T00:00:00Z'), ['2026-05-01T00:00:00.000Z', '2026-05-02T00:00:00.000Z']);
    assert.deepEqual(period('day', 'UTC', '2026-05-01T23:59:59.999Z'), ['2026-05-01T00:00:00.000Z', '2026-05-02T00:00:00.000Z']);
  });

  it('run weeks from Monday across a year end', () => {
    // 2026-01-01 is a Thursday.
    assert.deepEqual(period('week', 'UTC', '2026-01-01T12:00:00Z'), ['2025-12-29T00:00:00.000Z', '2026-01-05T00:00:00.000Z']);
    assert.deepEqual(period('week', 'UTC', '2025-12-28T23:59:59Z'), ['2025-12-22T00:00:00.000Z', '2025-12-29T00:00:00.000Z']);
  });

  it('run months from the 1st, in the zone: month ends, a leap February', () => {
    // 2026-02-01 05:00 in Tokyo is still January in UTC.
    assert.deepEqual(period('month', 'Asia/Tokyo', '2026-01-31T20:00:00Z'), ['2026-01-31T15:00:00.000Z', '2026-02-28T15:00:00.000Z']);
    assert.deepEqual(period('month', 'UTC', '2028-02-29T12:00:00Z'), ['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    assert.deepEqual(period('month', 'America/New_York', '2026-03-31T12:00:00Z'), ['2026-03-01T05:00:00.000Z', '2026-04-01T04:00:00.000Z']);
  });
});

describe('periodUseAt', () => {
  const budget: Budget = { period: 'day', maxRuns: 2, maxTokens: null, maxCostUsd: null };
  const use: PeriodUse = { startsAt: utc('2026-05-01T00:00:00Z'), runs: 2, inputTokens: 5, outputTokens: 5, costUsd: 1 };

  it('keeps the period while the instant is in it, and starts the next afresh', () => {
    assert.equal(periodUseAt(use, budget, 'UTC', utc('2026-05-01T23:00:00Z')), use);
    assert.deepEqual(periodUseAt(use, budget, 'UTC', utc('2026-05-03T01:00:00Z')), {
      startsAt: utc('2026-05-03T00:00:00Z'),
      runs: 0,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    });
  });

  it('never goes back to an earlier period (a late slot counts in the current one)', () => {
    assert.equal(periodUseAt(use, budget, 'UTC', utc('2026-04-30T23:00:00Z')), use);
  });
});

describe('budgetExhausted', () => {
  const use: PeriodUse = { startsAt: utc('2026-05-01T00:00:00Z'), runs: 3, inputTokens: 60, outputTokens: 40, costUsd: 0.5 };
  const limits = (l: Partial<Budget>): Budget => ({ period: 'day', maxRuns: null, maxTokens: null, maxCostUsd: null, ...l });

  it('is reached at each limit, tokens counting input and output together', () => {
    assert.equal(budgetExhausted(limits({ maxRuns: 3 }), use), true);
    assert.equal(budgetExhausted(limits({ maxRuns: 4 }), use), false);
    assert.equal(budgetExhausted(limits({ maxTokens: 100 }), use), true);
    assert.equal(budgetExhausted(limits({ maxTokens: 101 }), use), false);
    assert.equal(budgetExhausted(limits({ maxCostUsd: 0.5 }), use), true);
    assert.equal(budgetExhausted(limits({ maxCostUsd: 0.51 }), use), false);
  });
});
