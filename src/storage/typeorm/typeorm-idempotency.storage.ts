import { type IdempotencyClaim, IdempotencyStorage, type StoredAnswer } from '../ports/idempotency.storage.js';
import type { TypeOrmContext } from './typeorm-context.js';

export class TypeOrmIdempotencyStorage extends IdempotencyStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async claimKey(userId: string, key: string, fingerprint: string, now: Date, expiredBefore: Date): Promise<IdempotencyClaim> {
    const { dialect } = this.db;
    const p = dialect.placeholder;
    return this.db.transaction(async (em) => {
      // An expired record goes first; then the insert either claims the key or finds it taken
      // (the primary key decides between concurrent claims: the later waits for the earlier's commit).
      await em.query(`DELETE FROM idempotency_keys WHERE user_id = ${p(1)} AND idem_key = ${p(2)} AND created_at < ${p(3)}`, [
        userId,
        key,
        dialect.param(expiredBefore),
      ]);
      const inserted = await em.queryRunner!.query(
        `INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, created_at) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})
         ON CONFLICT DO NOTHING`,
        [userId, key, fingerprint, dialect.param(now)],
        true,
      );
      if ((inserted.affected ?? 0) > 0) return { status: 'new' };
      const rows: Array<{ fingerprint: string; status_code: number | null; body: string | null }> = Array.from(
        await em.query(`SELECT fingerprint, status_code, body FROM idempotency_keys WHERE user_id = ${p(1)} AND idem_key = ${p(2)}`, [userId, key]),
      );
      const found = rows[0];
      if (!found) return { status: 'in-progress' };
      if (found.fingerprint !== fingerprint) return { status: 'mismatch' };
      return found.status_code == null ? { status: 'in-progress' } : { status: 'replay', answer: { statusCode: Number(found.status_code), body: found.body ?? '' } };
    });
  }

  async completeKey(userId: string, key: string, answer: StoredAnswer): Promise<void> {
    const p = this.db.dialect.placeholder;
    await this.db.dataSource.query(`UPDATE idempotency_keys SET status_code = ${p(3)}, body = ${p(4)} WHERE user_id = ${p(1)} AND idem_key = ${p(2)}`, [
      userId,
      key,
      answer.statusCode,
      answer.body,
    ]);
  }

  async releaseKey(userId: string, key: string): Promise<void> {
    const p = this.db.dialect.placeholder;
    await this.db.dataSource.query(`DELETE FROM idempotency_keys WHERE user_id = ${p(1)} AND idem_key = ${p(2)}`, [userId, key]);
  }

  async pruneKeys(expiredBefore: Date, limit: number): Promise<number> {
    const { dialect } = this.db;
    const p = dialect.placeholder;
    const result = await this.db.transaction((em) =>
      em.queryRunner!.query(
        `DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN (
           SELECT user_id, idem_key FROM idempotency_keys WHERE created_at < ${p(1)} LIMIT ${p(2)})`,
        [dialect.param(expiredBefore), limit],
        true,
      ),
    );
    return result.affected ?? 0;
  }
}
