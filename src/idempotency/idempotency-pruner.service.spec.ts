import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { MemoryStorage } from '../storage/memory/memory.storage.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { IDEMPOTENCY_PRUNE_BATCH, IdempotencyPrunerService } from './idempotency-pruner.service.js';

describe('IdempotencyPrunerService', () => {
  it('deletes every key older than a day, batch after batch, and keeps the younger ones', async () => {
    const { idempotency } = new MemoryStorage();
    const clock = new ManualClock(new Date('2026-06-02T12:00:00.000Z'));
    const old = new Date('2026-06-01T11:59:59.000Z');
    const young = new Date('2026-06-01T12:00:01.000Z');
    const far = new Date(0);
    for (let i = 0; i < IDEMPOTENCY_PRUNE_BATCH + 5; i++) await idempotency.claimKey('u', `old-${i}`, 'f', old, far);
    await idempotency.claimKey('u', 'young', 'f', young, far);
    assert.equal(await new IdempotencyPrunerService(idempotency, clock).prune(), IDEMPOTENCY_PRUNE_BATCH + 5);
    assert.deepEqual(await idempotency.claimKey('u', 'young', 'other', clock.now(), far), { status: 'mismatch' });
    assert.deepEqual(await idempotency.claimKey('u', 'old-0', 'other', clock.now(), far), { status: 'new' });
  });
});
