import type { Session, SessionConfig, SessionSource, SessionState } from '../../domain/session.js';
import type { SessionJson } from '../ports/history.storage.js';
import { spliceContext } from '../session-context.js';
import type { SqlDialect } from './dialect.js';
import type { SessionRow } from './entities/session.entity.js';

// The read path users hit most (a schedule's sessions, page by page) as plain SQL, one statement
// a page: TypeORM's entity hydration costs more than the query itself, and each round trip to
// the database costs about as much as the page's rows. The benchmark's bare baseline runs these
// same statements, so the two are compared on equal terms.

/** The columns of `sessions` a page reads, in the order RawSessionRow lists them. */
const COLUMNS = 'id, user_id, agent_id, source, source_schedule_id, team_id, config, state, created_at, updated_at, context_apart';

export interface SessionQueries {
  /** Params: userId, scheduleId → one row when the user owns the schedule. */
  scheduleOwned: string;
  /**
   * Params: userId, scheduleId, limit → the newest `limit` sessions. Each row also says whether
   * the user owns the schedule (`owned`) and how many sessions it has (`total`), and carries the
   * messages of a context kept apart (`context`, joined by commas): one row with null session
   * columns when there is no session to give, or the schedule is not the user's.
   */
  firstPage: string;
  /** Params: userId, scheduleId, afterAt, afterId, limit → as firstPage, the next `limit` sessions after that position. */
  nextPage: string;
  /** Params: userId, scheduleId → as firstPage, every session of the schedule, newest first. */
  all: string;
}

export function sessionQueries(dialect: SqlDialect): SessionQueries {
  const p = dialect.placeholder;
  const scoped = `user_id = ${p(1)} AND source_schedule_id = ${p(2)}`;
  const messages =
    dialect.name === 'postgres' ? `string_agg(x.message::text, ',' ORDER BY x.seq)` : `group_concat(x.message, ',' ORDER BY x.seq)`;
  const page = (after: string, limit: string) =>
    `SELECT m.owned, m.total, ${COLUMNS.split(', ').map((c) => `p.${c}`).join(', ')},
            CASE WHEN p.context_apart THEN (SELECT ${messages} FROM session_messages x WHERE x.session_id = p.id) END AS context
       FROM (SELECT EXISTS (SELECT 1 FROM schedules WHERE user_id = ${p(1)} AND id = ${p(2)}) AS owned,
                    (SELECT count(*) FROM sessions WHERE ${scoped}) AS total) AS m
       LEFT JOIN (SELECT ${COLUMNS} FROM sessions WHERE ${scoped}${after} ORDER BY created_at DESC, id DESC${limit}) AS p ON m.owned
      ORDER BY p.created_at DESC, p.id DESC`;
  return {
    scheduleOwned: `SELECT 1 AS owned FROM schedules WHERE user_id = ${p(1)} AND id = ${p(2)}`,
    firstPage: page('', ` LIMIT ${p(3)}`),
    nextPage: page(` AND (created_at, id) < (${p(3)}, ${p(4)})`, ` LIMIT ${p(5)}`),
    all: page('', ''),
  };
}

/**
 * A row of a page as the driver returns it: the documents as their stored JSON text (SQLite's
 * text; the service's PostgreSQL pool hands `json` over as text, a plain `pg` pool parses it),
 * timestamps as PostgreSQL's Date or SQLite's text, booleans as PostgreSQL's or SQLite's 0/1;
 * the session columns null on the one row of an empty page.
 */
export type RawPageRow = Omit<SessionRow, 'config' | 'state' | 'created_at' | 'updated_at' | 'context_apart' | 'context_messages' | 'context_bytes' | 'context_seq'> & {
  owned: boolean | number;
  total: number | string;
  config: SessionConfig | string;
  state: SessionState | string;
  created_at: Date | string;
  updated_at: Date | string;
  context_apart: boolean | number;
  context: string | null;
};

/** The page's answer: null when the user has no such schedule, else its sessions and their count. */
export function pageFromRows<T>(rows: readonly RawPageRow[], read: (row: RawPageRow) => T): { items: T[]; total: number } | null {
  const first = rows[0];
  if (!first || !first.owned) return null;
  // Array.from, not rows.map: the driver's array may come from a native addon's realm (Jest's
  // vm-per-file tests see that), and a page is a plain array of this realm either way.
  return { items: Array.from(rows.filter((row) => row.id !== null), read), total: Number(first.total) };
}

const text = (document: unknown) => (typeof document === 'string' ? document : JSON.stringify(document));

/** A row of a page with its documents as text, a context kept apart put back in its place. */
export function sessionJsonFromRaw(dialect: SqlDialect, row: RawPageRow): SessionJson {
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id,
    configJson: text(row.config),
    source: row.source as SessionSource,
    sourceScheduleId: row.source_schedule_id,
    teamId: row.team_id,
    stateJson: row.context_apart ? spliceContext(text(row.state), row.context ?? '') : text(row.state),
    createdAt: dialect.timestampFromRaw(row.created_at),
    updatedAt: dialect.timestampFromRaw(row.updated_at),
  };
}

/** A row of a page as a session, its documents parsed. */
export function sessionFromRaw(dialect: SqlDialect, row: RawPageRow): Session {
  const json = sessionJsonFromRaw(dialect, row);
  const { configJson, stateJson, ...session } = json;
  return { ...session, config: JSON.parse(String(configJson)), state: JSON.parse(String(stateJson)) };
}
