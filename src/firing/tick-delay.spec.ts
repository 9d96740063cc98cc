import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { HELD_DUE_RETRY_MS, sleepAfterTick } from './tick-delay.js';

describe('sleepAfterTick', () => {
  const now = 1_000_000;
  const base = { now, lastClaimAt: now - 5, announcedAt: null, maxMs: 60_000 };

  it('sleeps the maximum when no schedule has a next run', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: null }), 60_000);
  });

  it('sleeps until the earliest next run', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 1500 }), 1500);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 1 }), 1);
  });

  it('sleeps at most the maximum, however far off the next run is', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 3_600_000 }), 60_000);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 3_600_000, maxMs: 250 }), 250);
  });

  it('ticks at once for a run that fell due after the last claim looked', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now - 2 }), 0);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now }), 0);
  });

  it('retries shortly, not at once, for a run that was due at the claim and not claimed: another replica holds it', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: base.lastClaimAt }), HELD_DUE_RETRY_MS);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now - 60_000 }), HELD_DUE_RETRY_MS);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now - 60_000, maxMs: 20 }), 20);
  });

  it('takes a run announced during the tick as it is, even one due at the claim: its write may have come after', () => {
    assert.equal(sleepAfterTick({ ...base, nextDueAt: null, announcedAt: now + 700 }), 700);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 5000, announcedAt: now + 700 }), 700);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now + 300, announcedAt: now + 700 }), 300);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: now - 60_000, announcedAt: now - 60_000 }), 0);
    assert.equal(sleepAfterTick({ ...base, nextDueAt: null, announcedAt: now + 3_600_000 }), 60_000);
  });
});
