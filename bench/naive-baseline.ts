import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import sqlite3 from 'sqlite3';

/**
 * The naive bare baseline: GET /schedule/{id}/sessions?limit=N as someone would write it without
 * the service, on purpose sharing none of its code (nothing from src/): node:http, its own SQL,
 * the driver's parsed rows (PostgreSQL's jsonb arrives as objects; SQLite's text is parsed with
 * JSON.parse), the wire objects built by hand and JSON.stringify. On memory it holds the
 * sessions as objects and stringifies them. Only the first page: that is what is measured.
 */
export interface NaiveBaseline {
  url: string;
  close(): Promise<void>;
}

export interface WireSession {
  user_id: string;
  agent_id: string;
  config: unknown;
  id: string;
  updated_at: string;
  created_at: string;
  source: string;
  source_schedule_id: string | null;
  team_id: string | null;
  state: unknown;
}

interface NaiveSource {
  owned(userId: string, scheduleId: string): Promise<boolean>;
  firstPage(userId: string, scheduleId: string, limit: number): Promise<{ sessions: WireSession[]; total: number }>;
  close(): Promise<void>;
}

interface Row {
  id: string;
  user_id: string;
  agent_id: string;
  source: string;
  source_schedule_id: string | null;
  team_id: string | null;
  config: unknown;
  state: unknown;
  created_at: Date | string;
  updated_at: Date | string;
}

const PAGE_SQL = (p: (n: number) => string) =>
  `SELECT id, user_id, agent_id, source, source_schedule_id, team_id, config, state, created_at, updated_at
     FROM sessions WHERE user_id = ${p(1)} AND source_schedule_id = ${p(2)}
    ORDER BY created_at DESC, id DESC LIMIT ${p(3)}`;
const COUNT_SQL = (p: (n: number) => string) => `SELECT count(*) AS n FROM sessions WHERE user_id = ${p(1)} AND source_schedule_id = ${p(2)}`;
const OWNED_SQL = (p: (n: number) => string) => `SELECT 1 AS ok FROM schedules WHERE user_id = ${p(1)} AND id = ${p(2)}`;

function toWire(row: Row, time: (v: Date | string) => string, json: (v: unknown) => unknown): WireSession {
  return {
    user_id: row.user_id,
    agent_id: row.agent_id,
    config: json(row.config),
    id: row.id,
    updated_at: time(row.updated_at),
    created_at: time(row.created_at),
    source: row.source,
    source_schedule_id: row.source_schedule_id,
    team_id: row.team_id,
    state: json(row.state),
  };
}

/** PostgreSQL through `pg`: jsonb parsed by the driver, timestamptz as Date. */
export function naivePostgres(connectionString: string): NaiveSource {
  const pool = new Pool({ connectionString, max: 10 });
  const p = (n: number) => `$${n}`;
  const time = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();
  return {
    owned: async (userId, scheduleId) => (await pool.query(OWNED_SQL(p), [userId, scheduleId])).rowCount! > 0,
    async firstPage(userId, scheduleId, limit) {
      const [rows, counted] = await Promise.all([
        pool.query<Row>(PAGE_SQL(p), [userId, scheduleId, limit + 1]),
        pool.query<{ n: string }>(COUNT_SQL(p), [userId, scheduleId]),
      ]);
      return { sessions: rows.rows.map((r) => toWire(r, time, (v) => v)), total: Number(counted.rows[0].n) };
    },
    close: () => pool.end(),
  };
}

/** SQLite through `sqlite3`: documents stored as text and parsed here; times stored as 'YYYY-MM-DD HH:MM:SS.sss' UTC. */
export function naiveSqlite(path: string): NaiveSource {
  const db = new sqlite3.Database(path);
  const all = <T>(sql: string, params: unknown[]) =>
    new Promise<T[]>((resolve, reject) => db.all(sql, params, (e, rows) => (e ? reject(e) : resolve(rows as T[]))));
  const p = (n: number) => `?${n}`;
  const time = (v: Date | string) => new Date(`${String(v).replace(' ', 'T')}Z`).toISOString();
  return {
    owned: async (userId, scheduleId) => (await all(OWNED_SQL(p), [userId, scheduleId])).length > 0,
    async firstPage(userId, scheduleId, limit) {
      const [rows, counted] = await Promise.all([
        all<Row>(PAGE_SQL(p), [userId, scheduleId, limit + 1]),
        all<{ n: number }>(COUNT_SQL(p), [userId, scheduleId]),
      ]);
      return { sessions: rows.map((r) => toWire(r, time, (v) => JSON.parse(v as string))), total: counted[0].n };
    },
    close: () => new Promise((resolve) => db.close(() => resolve())),
  };
}

/** Memory: the sessions held as objects (as a bare in-memory server would), newest first. */
export function naiveMemory(userId: string, scheduleId: string, sessions: WireSession[]): NaiveSource {
  const held = sessions
    .map((s) => structuredClone(s))
    .sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? 1 : -1) : a.created_at < b.created_at ? 1 : -1));
  const mine = (u: string, s: string) => held.filter((x) => x.user_id === u && x.source_schedule_id === s);
  return {
    owned: async (u, s) => u === userId && s === scheduleId,
    async firstPage(u, s, limit) {
      const all = mine(u, s);
      return { sessions: all.slice(0, limit + 1), total: all.length };
    },
    close: async () => undefined,
  };
}

export async function startNaiveBaseline(source: NaiveSource): Promise<NaiveBaseline> {
  const server: Server = createServer((req, res) => {
    handle(source, req, res).catch((error: Error) => res.writeHead(500).end(error.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await source.close();
    },
  };
}

async function handle(source: NaiveSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/schedule\/([^/]+)\/sessions$/.exec(url.pathname);
  const userId = req.headers['x-user-id'];
  if (!match || typeof userId !== 'string' || !(await source.owned(userId, match[1]))) {
    res.writeHead(404).end();
    return;
  }
  const limit = Number(url.searchParams.get('limit') ?? 50);
  const { sessions, total } = await source.firstPage(userId, match[1], limit);
  const page = sessions.slice(0, limit);
  const last = page[page.length - 1];
  const body = JSON.stringify({
    sessions: page,
    total,
    next_cursor: sessions.length > limit ? Buffer.from(JSON.stringify([last.created_at, last.id])).toString('base64url') : null,
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
}
