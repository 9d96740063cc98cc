import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A stateful session's messages as rows of their own (session_messages), so that a fire appends
 * one instead of rewriting the session's document: what it costs no longer grows with the
 * session. Existing stateful sessions (their id is their schedule's plus `_stateful`) move their
 * context there; every other session keeps its messages in its state.
 */
export class SessionMessagesSqlite1764900000000 implements MigrationInterface {
  name = 'SessionMessagesSqlite1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions ADD COLUMN context_apart boolean NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE sessions ADD COLUMN context_messages integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE sessions ADD COLUMN context_bytes integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE sessions ADD COLUMN context_seq integer NOT NULL DEFAULT 0`);
    await q.query(`
      CREATE TABLE session_messages (
        session_id varchar(128) NOT NULL,
        seq integer NOT NULL,
        message text NOT NULL,
        bytes integer NOT NULL,
        PRIMARY KEY (session_id, seq)
      )`);
    // Messages are objects: json_each gives their text.
    await q.query(`
      INSERT INTO session_messages (session_id, seq, message, bytes)
      SELECT s.id, e.key + 1, e.value, octet_length(e.value)
        FROM sessions s, json_each(s.state, '$.context') e
       WHERE s.id = s.source_schedule_id || '_stateful'`);
    await q.query(`
      UPDATE sessions
         SET context_apart = 1,
             context_messages = (SELECT count(*) FROM session_messages x WHERE x.session_id = sessions.id),
             context_bytes = (SELECT coalesce(sum(bytes), 0) FROM session_messages x WHERE x.session_id = sessions.id),
             context_seq = (SELECT count(*) FROM session_messages x WHERE x.session_id = sessions.id),
             state = json_set(state, '$.context', json('[]'))
       WHERE id = source_schedule_id || '_stateful'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE sessions
         SET state = json_set(state, '$.context',
               json('[' || coalesce((SELECT group_concat(x.message, ',' ORDER BY x.seq) FROM session_messages x WHERE x.session_id = sessions.id), '') || ']'))
       WHERE context_apart`);
    await q.query(`DROP TABLE session_messages`);
    await q.query(`ALTER TABLE sessions DROP COLUMN context_seq`);
    await q.query(`ALTER TABLE sessions DROP COLUMN context_bytes`);
    await q.query(`ALTER TABLE sessions DROP COLUMN context_messages`);
    await q.query(`ALTER TABLE sessions DROP COLUMN context_apart`);
  }
}
