import { type IdempotencyClaim, IdempotencyStorage, type StoredAnswer } from '../ports/idempotency.storage.js';

interface IdempotencyRecord {
  fingerprint: string;
  createdAt: Date;
  answer: StoredAnswer | null;
}

export class MemoryIdempotencyStorage extends IdempotencyStorage {
  /** By `${userId}\u0000${key}`. */
  private readonly records = new Map<string, IdempotencyRecord>();

  async claimKey(userId: string, key: string, fingerprint: string, now: Date, expiredBefore: Date): Promise<IdempotencyClaim> {
    const id = recordId(userId, key);
    const found = this.records.get(id);
    if (!found || found.createdAt < expiredBefore) {
      this.records.set(id, { fingerprint, createdAt: new Date(now), answer: null });
      return { status: 'new' };
    }
    if (found.fingerprint !== fingerprint) return { status: 'mismatch' };
    return found.answer ? { status: 'replay', answer: { ...found.answer } } : { status: 'in-progress' };
  }

  async completeKey(userId: string, key: string, answer: StoredAnswer): Promise<void> {
    const found = this.records.get(recordId(userId, key));
    if (found) found.answer = { ...answer };
  }

  async releaseKey(userId: string, key: string): Promise<void> {
    this.records.delete(recordId(userId, key));
  }

  async pruneKeys(expiredBefore: Date, limit: number): Promise<number> {
    let pruned = 0;
    for (const [id, record] of this.records) {
      if (pruned >= limit) break;
      if (record.createdAt >= expiredBefore) continue;
      this.records.delete(id);
      pruned++;
    }
    return pruned;
  }
}

function recordId(userId: string, key: string): string {
  return `${userId}\u0000${key}`;
}
