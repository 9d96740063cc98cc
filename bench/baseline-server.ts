import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import sqlite3 from 'sqlite3';
import { encodeCursor } from '../src/common/cursor.js';
import { toSessionResponse } from '../src/wire/session.response.js';
import type { Session } from '../src/domain/session.js';
import type { HistoryStorage } from '../src/storage/ports/history.storage.js';
import type { ScheduleStorage } from '../src/storage/ports/schedule.storage.js';
import { storedSessionPage } from '../test/support/stored-sessions.js';
import type { SqlDialect } from '../src/storage/typeorm/dialect.js';
import { pageFromRows, type RawPageRow, sessionFromRaw, sessionQueries } from '../src/storage/typeorm/session-queries.js';

/**
 * The bare baseline: node:http answering GET /schedule/{id}/sessions?limit=N with the same
 * driver, the same SQL and the same mapping as the service, and JSON.stringify: what the
 * request costs without the framework.
 */
export interface Baseline {
  url: string;
  close(): Promise<void>;
}

type Query = (sql: string, params: unknown[]) => Promise<unknown[]>;

interface PageSource {
  /** The first `limit` sessions of the user's schedule; null when it is not theirs. */
  page(userId: string, scheduleId: string, limit: number): Promise<{ sessions: Session[]; total: number; more: boolean } | null>;
  close(): Promise<void>;
}

export function memorySource(schedules: ScheduleStorage, history: HistoryStorage): PageSource {
  return {
    async page(userId, scheduleId, limit) {
      if (!(await schedules.hasSchedule(userId, scheduleId))) return null;
      const page = await storedSessionPage(history, userId, scheduleId, { limit });
      return { sessions: page.items, total: page.total, more: page.next !== null };
    },
    close: async () => undefined,
  };
}

export function sqlSource(dialect: SqlDialect, location: string): PageSource {
  const queries = sessionQueries(dialect);
  let query: Query;
  let close: () => Promise<void>;
  if (dialect.name === 'postgres') {
    const pool = new Pool({ connectionString: location, max: 10 }); // TypeORM's default pool size
    query = async (sql, params) => (await pool.query(sql, params)).rows;
    close = () => pool.end();
  } else {
    const db = new sqlite3.Database(location);
    query = (sql, params) => new Promise((resolve, reject) => db.all(sql, params, (e, rows) => (e ? reject(e) : resolve(rows))));
    close = () => new Promise((resolve) => db.close(() => resolve()));
  }
  return {
    async page(userId, scheduleId, limit) {
      const found = pageFromRows((await query(queries.firstPage, [userId, scheduleId, limit + 1])) as RawPageRow[], (row) => sessionFromRaw(dialect, row));
      if (!found) return null;
      return { sessions: found.items.slice(0, limit), total: found.total, more: found.items.length > limit };
    },
    close,
  };
}

export async function startBaseline(source: PageSource): Promise<Baseline> {
  const server: Server = createServer((req, res) => {
    handle(source, req, res).catch((error: Error) => {
      res.writeHead(500).end(error.message);
    });
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

async function handle(source: PageSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/schedule\/([^/]+)\/sessions$/.exec(url.pathname);
  const userId = req.headers['x-user-id'];
  if (!match || typeof userId !== 'string') {
    res.writeHead(404).end();
    return;
  }
  const limit = Number(url.searchParams.get('limit') ?? 50);
  const page = await source.page(userId, match[1], limit);
  if (!page) {
    res.writeHead(404).end();
    return;
  }
  const { sessions, total, more } = page;
  const last = sessions[sessions.length - 1];
  const body = JSON.stringify({
    sessions: sessions.map(toSessionResponse),
    total,
    next_cursor: more ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
  });
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(body);
}
