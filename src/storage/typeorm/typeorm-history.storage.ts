import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { KeysetPosition, Page, PageRequest } from '../../common/page.js';
import type { Run, RunWithAttempts } from '../../domain/run.js';
import { HistoryStorage, type SessionJson } from '../ports/history.storage.js';
import { toDispatchAttempt, toRun } from './entities/row.mapper.js';
import { type RawSessionJsonRow, sessionJsonFromRaw } from './session-queries.js';
import type { TypeOrmContext } from './typeorm-context.js';

export class TypeOrmHistoryStorage extends HistoryStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson>> {
    const { dataSource, queries, dialect } = this.db;
    // Array.from, not rows.map: the driver's array may come from a native addon's realm (Jest's
    // vm-per-file tests see that), and a page is a plain array of this realm either way.
    const read = (rows: RawSessionJsonRow[]) => Array.from(rows, (row) => sessionJsonFromRaw(dialect, row));
    if (!page) {
      const sessions = read(await dataSource.query(queries.all, [userId, scheduleId]));
      return { items: sessions, total: sessions.length, next: null };
    }
    const { after, limit } = page;
    const [rows, counted] = await Promise.all([
      after
        ? dataSource.query(queries.nextPage, [userId, scheduleId, dialect.param(after.at), after.id, limit + 1])
        : dataSource.query(queries.firstPage, [userId, scheduleId, limit + 1]),
      dataSource.query(queries.count, [userId, scheduleId]),
    ]);
    return pageFrom(read(rows), Number(counted[0].n), limit, (s) => s.createdAt);
  }

  async listRunsBySchedule(userId: string, scheduleId: string): Promise<Run[]> {
    const rows = await this.db.runs().find({
      where: { user_id: userId, schedule_id: scheduleId },
      order: { scheduled_for: 'DESC', id: 'DESC' },
    });
    return rows.map(toRun);
  }

  async pageRunsBySchedule(userId: string, scheduleId: string, page: PageRequest): Promise<Page<Run>> {
    const where = { user_id: userId, schedule_id: scheduleId };
    const query = this.db.runs().createQueryBuilder('r').where(where);
    const [rows, total] = await Promise.all([keysetPage(query, 'r.scheduled_for', 'r.id', page).getMany(), this.db.runs().countBy(where)]);
    return pageFrom(rows.map(toRun), total, page.limit, (r) => r.scheduledFor);
  }

  async getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts | null> {
    const row = await this.db.runs().findOneBy({ id: runId, user_id: userId, schedule_id: scheduleId });
    if (!row) return null;
    const attempts = await this.db.attempts().find({ where: { run_id: runId }, order: { at: 'ASC', id: 'ASC' } });
    return { run: toRun(row), attempts: attempts.map(toDispatchAttempt) };
  }
}

/** Newest first from after `page.after`, one row more than asked for: it tells whether there is a next page. */
function keysetPage<Q extends SelectQueryBuilder<ObjectLiteral>>(query: Q, at: string, id: string, page: PageRequest): Q {
  if (page.after) query.andWhere(`(${at}, ${id}) < (:afterAt, :afterId)`, { afterAt: page.after.at, afterId: page.after.id });
  return query.orderBy(at, 'DESC').addOrderBy(id, 'DESC').limit(page.limit + 1);
}

function pageFrom<T extends { id: string }>(rows: T[], total: number, limit: number, at: (item: T) => Date): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const next: KeysetPosition | null = rows.length > limit ? { at: at(last), id: last.id } : null;
  return { items, total, next };
}
