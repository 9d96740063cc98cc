import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { LogThrottle, suppressedSuffix } from './log-throttle.js';

describe('LogThrottle', () => {
  function throttled() {
    let now = 1_000_000;
    const throttle = new LogThrottle(10_000, () => now);
    const logged: Array<[string, number]> = [];
    return {
      event: (kind: string) => throttle.run(kind, (suppressed) => logged.push([kind, suppressed])),
      advance: (ms: number) => (now += ms),
      logged,
      throttle,
    };
  }

  it('logs the first event of a kind, then none within the interval, then one with the count', () => {
    const t = throttled();
    for (let i = 0; i < 50; i++) t.event('outage');
    assert.deepEqual(t.logged, [['outage', 0]]);
    assert.equal(t.throttle.suppressed('outage'), 49);
    t.advance(9_999);
    t.event('outage');
    assert.equal(t.logged.length, 1);
    t.advance(1);
    t.event('outage');
    assert.deepEqual(t.logged, [['outage', 0], ['outage', 50]]);
    assert.equal(t.throttle.suppressed('outage'), 0);
  });

  it('keeps kinds apart, and forgets one on reset', () => {
    const t = throttled();
    t.event('a');
    t.event('b');
    t.event('a');
    assert.deepEqual(t.logged, [['a', 0], ['b', 0]]);
    t.throttle.reset('a');
    t.event('a');
    assert.deepEqual(t.logged.at(-1), ['a', 0]);
  });

  it('logs again when the clock goes back, rather than staying silent', () => {
    const t = throttled();
    t.event('a');
    t.advance(-60_000);
    t.event('a');
    assert.equal(t.logged.length, 2);
  });

  it('remembers a bounded number of kinds', () => {
    const t = throttled();
    for (let i = 0; i < 5000; i++) t.event(`kind ${i}`);
    assert.equal(t.logged.length, 5000);
    t.event('kind 4999');
    assert.equal(t.logged.length, 5000);
  });

  it('says how many were left out', () => {
    assert.equal(suppressedSuffix(0), '');
    assert.equal(suppressedSuffix(3), ' (3 more like this since the last report)');
  });
});
