import { EntitySchema } from 'typeorm';
import type { SqlDialect } from '../dialect.js';

/**
 * A row of `session_messages`: one message of a stateful session's context, kept apart so that a
 * fire appends a row instead of rewriting the session's document (see sessions.context_apart).
 */
export interface SessionMessageRow {
  session_id: string;
  /** Its place in the context: increasing, oldest first (sessions.context_seq gives the next). */
  seq: number;
  /** The message's JSON text, as written. */
  message: string;
  /** The message's size as the byte bound counts it: its JSON text in UTF-8. */
  bytes: number;
}

export function sessionMessageEntity(dialect: SqlDialect): EntitySchema<SessionMessageRow> {
  return new EntitySchema<SessionMessageRow>({
    name: 'SessionMessageRow',
    tableName: 'session_messages',
    columns: {
      session_id: { type: 'varchar', length: 128, primary: true, collation: dialect.idCollation },
      seq: { type: 'integer', primary: true },
      message: { type: dialect.columnTypes.document },
      bytes: { type: 'integer' },
    },
  });
}
