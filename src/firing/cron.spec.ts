import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { cronExpressionProblem } from './cron.js';

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
