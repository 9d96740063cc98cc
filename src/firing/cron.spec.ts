import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { cronExpressionProblem, fireIntervalProblem } from './cron.js';

describe('cronExpressionProblem', () => {
  it('accepts 5-field cron and 6-field cron with seconds', () => {
    assert.equal(cronExpressionProblem('0 9 * * 1-5'), null);
    assert.equal(cronExpressionProblem('*/2 * * * * *'), null);
    assert.equal(cronExpressionProblem('0 9 * * 7', 'Asia/Shanghai'), null);
  });

  it('rejects other field counts, nicknames, bad values and expressions that never fire', () => {
    assert.match(cronExpressionProblem('* * * *')!, /got 4/);
    assert.match(cronExpressionProblem('0 0 0 * * * 2027')!, /got 7/);
    assert.match(cronExpressionProblem('@daily')!, /got 1/);
    assert.match(cronExpressionProblem('61 * * * *')!, /not a valid cron expression/);
    assert.equal(cronExpressionProblem('0 0 30 2 *'), 'never fires');
  });
});

describe('fireIntervalProblem', () => {
  const from = new Date('2026-03-01T00:00:00Z');

  it('accepts every valid expression when the minimum is a second', () => {
    assert.equal(fireIntervalProblem('* * * * * *', 'UTC', 1, from), null);
  });

  it('refuses expressions that fire more often than the minimum, naming the shortest gap', () => {
    assert.equal(fireIntervalProblem('* * * * *', 'UTC', 60, from), null);
    assert.match(fireIntervalProblem('*/30 * * * * *', 'UTC', 60, from)!, /every 30 s; at least 60 s/);
    assert.match(fireIntervalProblem('* * * * * *', 'Europe/Berlin', 2, from)!, /every 1 s/);
    assert.equal(fireIntervalProblem('*/5 * * * *', 'UTC', 300, from), null);
    assert.match(fireIntervalProblem('*/5 * * * *', 'UTC', 301, from)!, /every 300 s/);
  });

  it('finds a burst among otherwise rare fires', () => {
    // Twice a day, the two fires ten seconds apart.
    assert.match(fireIntervalProblem('0,10 0 9 * * *', 'UTC', 60, from)!, /every 10 s/);
    assert.equal(fireIntervalProblem('0 0 9,21 * * *', 'UTC', 3600, from), null);
  });

  it('reads the expression in the schedule’s time zone', () => {
    // 01:00, 01:59, 03:00, 03:59: 59 or 61 minutes apart, except where clocks go forward at 02:00
    // (Berlin, 2026-03-29): there 01:59 and 03:00 are one minute apart.
    const march = new Date('2026-03-28T12:00:00Z');
    assert.equal(fireIntervalProblem('0 0,59 1,3 * * *', 'UTC', 3000, march), null);
    assert.match(fireIntervalProblem('0 0,59 1,3 * * *', 'Europe/Berlin', 3000, march)!, /every 60 s/);
  });
});
