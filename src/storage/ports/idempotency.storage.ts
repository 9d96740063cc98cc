/** A request's answer, kept to be given again (see IdempotencyStorage). */
export interface StoredAnswer {
  statusCode: number;
  /** The response body, as sent. */
  body: string;
}

/** What IdempotencyStorage.claimKey found. */
export type IdempotencyClaim =
  /** The key is the caller's now: handle the request, then completeKey (or releaseKey). */
  | { status: 'new' }
  /** A request with this key and the same fingerprint was answered: give its answer again. */
  | { status: 'replay'; answer: StoredAnswer }
  /** A request with this key and the same fingerprint is being handled: wait, and claim again. */
  | { status: 'in-progress' }
  /** The key was used for another request (another route or body). */
  | { status: 'mismatch' };

/**
 * What requests with an `Idempotency-Key` answered, per user and key, so that a retry (or a
 * concurrent duplicate) gets the first answer instead of acting again. Keys expire: a record
 * created before the cut-off the caller gives is as good as absent. Every implementation must pass
 * the storage contract (test/storage/contract/).
 */
export abstract class IdempotencyStorage {
  /**
   * Claims the user's `key` for a request with `fingerprint`, atomically: of concurrent claims of
   * one key, one gets `new`, the others `in-progress` (or `mismatch`). A record created before
   * `expiredBefore` is dropped first, so its key starts afresh.
   */
  abstract claimKey(userId: string, key: string, fingerprint: string, now: Date, expiredBefore: Date): Promise<IdempotencyClaim>;

  /** Keeps the answer of the request that claimed the key (`new`): later claims replay it. */
  abstract completeKey(userId: string, key: string, answer: StoredAnswer): Promise<void>;

  /** Gives up a claimed key whose request did not get an answer worth keeping (it failed): the next claim is `new`. */
  abstract releaseKey(userId: string, key: string): Promise<void>;

  /** Deletes up to `limit` records, of any user, created before `expiredBefore`; returns how many. */
  abstract pruneKeys(expiredBefore: Date, limit: number): Promise<number>;
}
