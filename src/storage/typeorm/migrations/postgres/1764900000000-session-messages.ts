import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A stateful session's messages as rows of their own (session_messages), so that a fire appends
 * one instead of rewriting the session's document: what it costs no longer grows with the
 * session. Existing stateful sessions (their id is their schedule's plus `_stateful`) move their
 * context there; every other session keeps its messages in its state.
 */
export class SessionMessagesPostgres1764900000000 implements MigrationInterface {
  name = 'SessionMessagesPostgres1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`
      ALTER TABLE sessions
        ADD COLUMN context_apart boolean NOT NULL DEFAULT false,
        ADD COLUMN context_messages integer NOT NULL DEFAULT 0,
        ADD COLUMN context_bytes integer NOT NULL DEFAULT 0,
        ADD COLUMN context_seq integer NOT NULL DEFAULT 0`);
    await q.query(`
      CREATE TABLE session_messages (
        session_id varchar(128) COLLATE "C" NOT NULL,
        seq integer NOT NULL,
        message json NOT NULL,
        bytes integer NOT NULL,
        PRIMARY KEY (session_id, seq)
      )`);
    await q.query(`
      INSERT INTO session_messages (session_id, seq, message, bytes)
      SELECT s.id, e.n, e.value, octet_length(e.value::text)
        FROM sessions s, json_array_elements(s.state -> 'context') WITH ORDINALITY AS e(value, n)
       WHERE s.id = s.source_schedule_id || '_stateful'`);
    await q.query(`
      UPDATE sessions s
         SET context_apart = true,
             context_messages = m.n, context_bytes = m.bytes, context_seq = m.n,
             state = jsonb_set(s.state::jsonb, '{context}', '[]'::jsonb)::json
        FROM (SELECT s2.id, count(x.seq)::int AS n, coalesce(sum(x.bytes), 0)::int AS bytes
                FROM sessions s2 LEFT JOIN session_messages x ON x.session_id = s2.id
               WHERE s2.id = s2.source_schedule_id || '_stateful'
               GROUP BY s2.id) m
       WHERE s.id = m.id`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`
      UPDATE sessions s
         SET state = jsonb_set(s.state::jsonb, '{context}',
               coalesce((SELECT jsonb_agg(x.message::jsonb ORDER BY x.seq) FROM session_messages x WHERE x.session_id = s.id), '[]'::jsonb))::json
       WHERE s.context_apart`);
    await q.query(`DROP TABLE session_messages`);
    await q.query(`
      ALTER TABLE sessions DROP COLUMN context_seq, DROP COLUMN context_bytes, DROP COLUMN context_messages, DROP COLUMN context_apart`);
  }
}
