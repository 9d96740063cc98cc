import type { EntityManager } from 'typeorm';
import { type ContextBounds, jsonTextBytes } from '../../domain/fire.js';
import type { Message, Session } from '../../domain/session.js';
import { BulkSql, ROWS_PER_STATEMENT } from './bulk-sql.js';
import type { SqlDialect } from './dialect.js';
import { toSessionRow } from './entities/row.mapper.js';

/** The oldest messages a trim looks at beyond those it must drop: a bigger new message may need a few more gone. */
const TRIM_LOOKAHEAD = 16;

/** A session's context as its counters say: how many messages, and their bytes. */
interface Counters {
  n: number;
  b: number;
}

/**
 * A stateful session's context as rows of session_messages (sessions.context_apart): a fire
 * appends a row and drops the oldest ones over the bounds, touching neither the other messages
 * nor the session's document, so that what it costs does not grow with the session. Every write
 * to such a context updates the session's row first (its counters, `updated_at`), which holds it:
 * the appends and replacements of one session queue on that row.
 */
export class ContextRows {
  private readonly bulk: BulkSql;

  constructor(
    private readonly dialect: SqlDialect,
    private readonly bounds: ContextBounds,
  ) {
    this.bulk = new BulkSql(dialect);
  }

  /**
   * Inserts sessions whose context is kept apart, with their messages as rows (within the bounds,
   * the newest kept, as an append keeps them).
   */
  async insert(em: EntityManager, sessions: readonly Session[]): Promise<void> {
    if (sessions.length === 0) return;
    const rows = [];
    const messages = [];
    for (const session of sessions) {
      const kept = this.newestWithin(session.state.context);
      rows.push(toSessionRow(session, { messages: kept.length, bytes: kept.reduce((sum, m) => sum + m.bytes, 0) }));
      messages.push(...kept.map((m, i) => ({ session_id: session.id, seq: i + 1, message: m.message, bytes: m.bytes })));
    }
    await this.bulk.insert(em, 'sessions', rows);
    await this.bulk.insert(em, 'session_messages', messages);
  }

  /**
   * Appends a message to the context of the session with this id, kept apart, and sets its
   * `updated_at`; drops its oldest messages while it is over either bound (never the newest).
   * False, writing nothing, when there is no such session (or its context is not kept apart).
   */
  async append(em: EntityManager, sessionId: string, message: Message | string, at: Date): Promise<boolean> {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    const bytes = jsonTextBytes(text);
    const p = this.dialect.placeholder;
    const counted = await this.queryRows<{ n: number | string; b: number | string; seq: number | string }>(
      em,
      `UPDATE sessions SET context_seq = context_seq + 1, context_messages = context_messages + 1,
              context_bytes = context_bytes + ${p(2)}, updated_at = ${p(3)}
        WHERE id = ${p(1)} AND context_apart`,
      [sessionId, bytes, this.dialect.param(at)],
      'context_seq AS seq, context_messages AS n, context_bytes AS b',
    );
    if (!counted) return false;
    await em.query(`INSERT INTO session_messages (session_id, seq, message, bytes) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`, [
      sessionId,
      Number(counted.seq),
      text,
      bytes,
    ]);
    await this.trim(em, sessionId, { n: Number(counted.n), b: Number(counted.b) });
    return true;
  }

  /**
   * Replaces the messages of the session with this id (its context kept apart) with `context`,
   * within the bounds (the newest kept); sets `updated_at`. False when there is no such session.
   */
  async replace(em: EntityManager, sessionId: string, context: readonly Message[], at: Date): Promise<boolean> {
    const kept = this.newestWithin(context);
    const p = this.dialect.placeholder;
    const result = await em.queryRunner!.query(
      `UPDATE sessions SET context_seq = ${p(2)}, context_messages = ${p(2)}, context_bytes = ${p(3)}, updated_at = ${p(4)}
        WHERE id = ${p(1)} AND context_apart`,
      [sessionId, kept.length, kept.reduce((sum, m) => sum + m.bytes, 0), this.dialect.param(at)],
      true,
    );
    if ((result.affected ?? 0) === 0) return false;
    await em.query(`DELETE FROM session_messages WHERE session_id = ${p(1)}`, [sessionId]);
    await this.bulk.insert(
      em,
      'session_messages',
      kept.map((m, i) => ({ session_id: sessionId, seq: i + 1, message: m.message, bytes: m.bytes })),
    );
    return true;
  }

  /** The messages of each of these sessions whose context is kept apart, oldest first, as JSON text. */
  async textsOf(em: EntityManager, sessionIds: readonly string[]): Promise<Map<string, string[]>> {
    const texts = new Map<string, string[]>();
    for (let i = 0; i < sessionIds.length; i += ROWS_PER_STATEMENT) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, sessionIds.slice(i, i + ROWS_PER_STATEMENT));
      const rows: Array<{ session_id: string; message: string }> = await em.query(
        `SELECT session_id, message FROM session_messages WHERE session_id IN ${list} ORDER BY session_id, seq`,
        params,
      );
      for (const row of Array.from(rows)) {
        const list = texts.get(row.session_id) ?? [];
        list.push(typeof row.message === 'string' ? row.message : JSON.stringify(row.message));
        texts.set(row.session_id, list);
      }
    }
    return texts;
  }

  /**
   * Drops the oldest messages while the context is over either bound, never the newest: reads
   * only those it drops (and a few more), oldest first by the primary key.
   */
  private async trim(em: EntityManager, sessionId: string, counters: Counters): Promise<void> {
    const p = this.dialect.placeholder;
    let { n, b } = counters;
    while (n > 1 && (n > this.bounds.maxMessages || b > this.bounds.maxBytes)) {
      const window = Math.min(n - 1, Math.max(0, n - this.bounds.maxMessages) + TRIM_LOOKAHEAD);
      const oldest: Array<{ seq: number | string; bytes: number | string }> = await em.query(
        `SELECT seq, bytes FROM session_messages WHERE session_id = ${p(1)} ORDER BY seq LIMIT ${p(2)}`,
        [sessionId, window],
      );
      let last: number | null = null;
      let count = 0;
      let freed = 0;
      for (const row of Array.from(oldest)) {
        if (!(n - count > 1 && (n - count > this.bounds.maxMessages || b - freed > this.bounds.maxBytes))) break;
        last = Number(row.seq);
        count++;
        freed += Number(row.bytes);
      }
      if (last === null) return;
      await em.query(`DELETE FROM session_messages WHERE session_id = ${p(1)} AND seq <= ${p(2)}`, [sessionId, last]);
      await em.query(`UPDATE sessions SET context_messages = context_messages - ${p(2)}, context_bytes = context_bytes - ${p(3)} WHERE id = ${p(1)}`, [
        sessionId,
        count,
        freed,
      ]);
      n -= count;
      b -= freed;
    }
  }

  /** The newest messages within both bounds (at least the last), with their JSON text's size. */
  private newestWithin(context: readonly Message[]): Array<{ message: Message; bytes: number }> {
    const kept: Array<{ message: Message; bytes: number }> = [];
    let bytes = 0;
    for (let i = context.length - 1; i >= 0 && kept.length < this.bounds.maxMessages; i--) {
      const size = jsonTextBytes(JSON.stringify(context[i]));
      if (kept.length > 0 && bytes + size > this.bounds.maxBytes) break;
      bytes += size;
      kept.push({ message: context[i], bytes: size });
    }
    return kept.reverse();
  }

  /** One row of an UPDATE: from its RETURNING where the engine gives it, else read after it; null when it updated none. */
  private async queryRows<T>(em: EntityManager, update: string, params: unknown[], returning: string): Promise<T | null> {
    if (this.dialect.updateReturnsRows) {
      const result = await em.queryRunner!.query(`${update} RETURNING ${returning}`, params, true);
      const rows = Array.from(result.records as T[]);
      return rows[0] ?? null;
    }
    const result = await em.queryRunner!.query(update, params, true);
    if ((result.affected ?? 0) === 0) return null;
    const rows: T[] = await em.query(`SELECT ${returning} FROM sessions WHERE id = ${this.dialect.placeholder(1)}`, [params[0]]);
    return Array.from(rows)[0] ?? null;
  }
}
