import type { Session, SessionConfig, SessionSource, SessionState } from '../../domain/session.js';
import type { SessionJson } from '../ports/history.storage.js';
import type { SqlDialect } from './dialect.js';
import type { SessionRow } from './entities/session.entity.js';

// The read path users hit most (a schedule's sessions, page by page) as plain SQL: TypeORM's
// entity hydration costs more than the query itself. The benchmark's bare baseline runs these
// same statements, so the two are compared on equal terms.

/** Every column of `sessions`, in the order RawSessionRow lists them. */
export const SESSION_COLUMNS = 'id, user_id, agent_id, source, source_schedule_id, team_id, config, state, created_at, updated_at';
const COLUMNS = SESSION_COLUMNS;

export interface SessionQueries {
  /** Params: sessionId → the session's row (any user's: for the storage's own reads). */
  byId: string;
  /** Params: userId, scheduleId → one row when the user owns the schedule. */
  scheduleOwned: string;
  /** Params: userId, scheduleId → `n`, the number of the schedule's sessions. */
  count: string;
  /** Params: userId, scheduleId, limit → the newest `limit` sessions. */
  firstPage: string;
  /** Params: userId, scheduleId, afterAt, afterId, limit → the next `limit` sessions after that position. */
  nextPage: string;
  /** Params: userId, scheduleId → every session of the schedule, newest first. */
  all: string;
}

export function sessionQueries(dialect: SqlDialect): SessionQueries {
  const p = dialect.placeholder;
  const scoped = `user_id = ${p(1)} AND source_schedule_id = ${p(2)}`;
  const newestFirst = 'ORDER BY created_at DESC, id DESC';
  return {
    byId: `SELECT ${COLUMNS} FROM sessions WHERE id = ${p(1)}`,
    scheduleOwned: `SELECT 1 AS owned FROM schedules WHERE user_id = ${p(1)} AND id = ${p(2)}`,
    count: `SELECT count(*) AS n FROM sessions WHERE ${scoped}`,
    firstPage: `SELECT ${COLUMNS} FROM sessions WHERE ${scoped} ${newestFirst} LIMIT ${p(3)}`,
    nextPage: `SELECT ${COLUMNS} FROM sessions WHERE ${scoped} AND (created_at, id) < (${p(3)}, ${p(4)}) ${newestFirst} LIMIT ${p(5)}`,
    all: `SELECT ${COLUMNS} FROM sessions WHERE ${scoped} ${newestFirst}`,
  };
}

/**
 * A raw `sessions` row as the driver returns it: the documents as their stored JSON text (SQLite's
 * text; the service's PostgreSQL pool hands `json` over as text, a plain `pg` pool parses it),
 * timestamps as PostgreSQL's Date or SQLite's text.
 */
export type RawSessionRow = Omit<SessionRow, 'config' | 'state' | 'created_at' | 'updated_at'> & {
  config: SessionConfig | string;
  state: SessionState | string;
  created_at: Date | string;
  updated_at: Date | string;
};

export function sessionFromRaw(dialect: SqlDialect, row: RawSessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id,
    config: typeof row.config === 'string' ? JSON.parse(row.config) : row.config,
    source: row.source as SessionSource,
    sourceScheduleId: row.source_schedule_id,
    teamId: row.team_id,
    state: typeof row.state === 'string' ? JSON.parse(row.state) : row.state,
    createdAt: dialect.timestampFromRaw(row.created_at),
    updatedAt: dialect.timestampFromRaw(row.updated_at),
  };
}

/** A `sessions` row as the service's storage reads it: config and state as text on every dialect. */
export type RawSessionJsonRow = Omit<RawSessionRow, 'config' | 'state'> & { config: string; state: string };

export function sessionJsonFromRaw(dialect: SqlDialect, row: RawSessionJsonRow): SessionJson {
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id,
    configJson: row.config,
    source: row.source as SessionSource,
    sourceScheduleId: row.source_schedule_id,
    teamId: row.team_id,
    stateJson: row.state,
    createdAt: dialect.timestampFromRaw(row.created_at),
    updatedAt: dialect.timestampFromRaw(row.updated_at),
  };
}
