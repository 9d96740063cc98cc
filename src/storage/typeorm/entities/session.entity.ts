import { EntitySchema, type ValueTransformer } from 'typeorm';
import type { SessionConfig, SessionState } from '../../../domain/session.js';
import type { SqlDialect } from '../dialect.js';

/** A row of `sessions`; column names are the property names. */
export interface SessionRow {
  id: string;
  user_id: string;
  agent_id: string;
  source: string;
  source_schedule_id: string | null;
  team_id: string | null;
  config: SessionConfig;
  state: SessionState;
  created_at: Date;
  updated_at: Date;
  /**
   * Whether the context's messages are kept apart, as rows of session_messages (a stateful
   * session: fires append to it), `state.context` holding their place empty; else they are in `state`.
   */
  context_apart: boolean;
  /** Of a context kept apart: its messages, their bytes, and the last `seq` given. */
  context_messages: number;
  context_bytes: number;
  context_seq: number;
}

/**
 * PostgreSQL hands `json` columns over as text (see data-source-options.ts, DOCUMENTS_AS_TEXT):
 * entity reads parse it here. SQLite's simple-json arrives parsed already.
 */
const DOCUMENT_TEXT: ValueTransformer = {
  from: (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value),
  to: (value: unknown) => value,
};

export function sessionEntity(dialect: SqlDialect): EntitySchema<SessionRow> {
  const t = dialect.columnTypes;
  const idCollation = dialect.idCollation;
  return new EntitySchema<SessionRow>({
    name: 'SessionRow',
    tableName: 'sessions',
    columns: {
      id: { type: 'varchar', length: 128, primary: true, collation: idCollation },
      user_id: { type: 'varchar', length: 256 },
      agent_id: { type: 'varchar', length: 256 },
      source: { type: 'varchar', length: 16 },
      source_schedule_id: { type: 'varchar', length: 64, nullable: true, collation: idCollation },
      team_id: { type: 'varchar', length: 256, nullable: true },
      config: { type: t.document, transformer: DOCUMENT_TEXT },
      state: { type: t.document, transformer: DOCUMENT_TEXT },
      created_at: { type: t.timestamp },
      updated_at: { type: t.timestamp },
      context_apart: { type: 'boolean', default: false },
      context_messages: { type: 'integer', default: 0 },
      context_bytes: { type: 'integer', default: 0 },
      context_seq: { type: 'integer', default: 0 },
    },
    // Serves "this user's sessions of this schedule, newest first" and the cascade delete.
    indices: [
      { name: 'sessions_user_schedule_created_idx', columns: ['user_id', 'source_schedule_id', 'created_at', 'id'] },
    ],
  });
}
