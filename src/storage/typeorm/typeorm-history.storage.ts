import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { KeysetPosition, Page, PageRequest } from '../../common/page.js';
import type { Run, RunWithAttempts } from '../../domain/run.js';
import { HistoryStorage, type RunFilter, type SessionJson } from '../ports/history.storage.js';
import { toDispatchAttempt, toRun } from './entities/row.mapper.js';
import { pageFromRows, type RawPageRow, sessionJsonFromRaw } from './session-queries.js';
import type { TypeOrmContext } from './typeorm-context.js';

export class TypeOrmHistoryStorage extends HistoryStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async pageSessionsJson(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<SessionJson> | null> {
    const { dataSource, queries, dialect } = this.db;
    const rows: RawPageRow[] = !page
      ? await dataSource.query(queries.all, [userId, scheduleId])
      : page.after
        ? await dataSource.query(queries.nextPage, [userId, scheduleId, dialect.param(page.after.at), page.after.id, page.limit + 1])
        : await dataSource.query(queries.firstPage, [userId, scheduleId, page.limit + 1]);
    const found = pageFromRows(rows, (row) => sessionJsonFromRaw(dialect, row));
    if (!found) return null;
    if (!page) return { ...found, next: null };
    return pageFrom(found.items, found.total, page.limit, (s) => s.createdAt);
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

  async pageRunsOfUser(userId: string, filter: RunFilter, page: PageRequest): Promise<Page<Run>> {
    const query = () => {
      const q = this.db.runs().createQueryBuilder('r').where('r.user_id = :userId', { userId });
      if (filter.scheduleId !== undefined) q.andWhere('r.schedule_id = :scheduleId', { scheduleId: filter.scheduleId });
      if (filter.status !== undefined) q.andWhere('r.status = :status', { status: filter.status });
      if (filter.trigger !== undefined) q.andWhere('r.trigger = :trigger', { trigger: filter.trigger });
      if (filter.since !== undefined) q.andWhere('r.scheduled_for >= :since', { since: filter.since });
      return q;
    };
    const [rows, total] = await Promise.all([keysetPage(query(), 'r.scheduled_for', 'r.id', page).getMany(), query().getCount()]);
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
