import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { at, type ContractContext, DAY, HOUR } from './contract-context.js';

/** IdempotencyStorage: a key claimed once, its answer replayed, another request refused, expiry. */
export function idempotencyContract({ storage, newUser }: ContractContext): void {
  describe('idempotency keys', () => {
    const now = new Date('2026-06-01T12:00:00.000Z');
    const expiredBefore = at(now, -DAY);
    const claim = (userId: string, key: string, fingerprint: string, when = now) =>
      storage.idempotency.claimKey(userId, key, fingerprint, when, at(when, -DAY));

    it('claims a key once, replays its answer to the same request, refuses another request, and starts afresh once released', async () => {
      const userId = newUser();
      assert.deepEqual(await claim(userId, 'k1', 'post-a'), { status: 'new' });
      assert.deepEqual(await claim(userId, 'k1', 'post-a'), { status: 'in-progress' });
      assert.deepEqual(await claim(userId, 'k1', 'post-b'), { status: 'mismatch' });
      await storage.idempotency.completeKey(userId, 'k1', { statusCode: 201, body: '{"schedule_id":"s1"}' });
      assert.deepEqual(await claim(userId, 'k1', 'post-a'), { status: 'replay', answer: { statusCode: 201, body: '{"schedule_id":"s1"}' } });
      assert.deepEqual(await claim(userId, 'k1', 'post-b'), { status: 'mismatch' });
      // Another user's key of the same name is theirs.
      assert.deepEqual(await claim(newUser(), 'k1', 'post-b'), { status: 'new' });
      assert.deepEqual(await claim(userId, 'k2', 'post-a'), { status: 'new' });
      await storage.idempotency.releaseKey(userId, 'k2');
      assert.deepEqual(await claim(userId, 'k2', 'post-b'), { status: 'new' });
    });

    it('lets a key expire: claimed again afresh after its day, and pruned', async () => {
      const userId = newUser();
      await claim(userId, 'old', 'a', at(now, -2 * DAY));
      await storage.idempotency.completeKey(userId, 'old', { statusCode: 202, body: '{}' });
      await claim(userId, 'recent', 'a', at(now, -HOUR));
      assert.deepEqual(await claim(userId, 'old', 'b'), { status: 'new' });
      await claim(userId, 'stale', 'a', at(now, -3 * DAY));
      assert.ok((await storage.idempotency.pruneKeys(expiredBefore, 1000)) >= 1);
      assert.deepEqual(await claim(userId, 'stale', 'b'), { status: 'new' });
      assert.deepEqual(await claim(userId, 'recent', 'b'), { status: 'mismatch' });
    });

    it('gives one of 20 concurrent claims of a key the key', async () => {
      const userId = newUser();
      const claims = await Promise.all(Array.from({ length: 20 }, () => claim(userId, 'race', 'same')));
      assert.equal(claims.filter((c) => c.status === 'new').length, 1);
      assert.equal(claims.filter((c) => c.status === 'in-progress').length, 19);
    });
  });
}
