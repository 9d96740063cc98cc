import type { Page, PageRequest } from '../../common/page.js';
import type { Schedule, ScheduleFilter } from '../../domain/schedule.js';
import {
  type SchedulePutOutcome,
  ScheduleStorage,
  type ScheduleUpdateOutcome,
  updatedSchedule,
  versionMatches,
} from '../ports/schedule.storage.js';
import { type RawScheduleRow, scheduleFromRaw, toSchedule, toScheduleRow } from './entities/row.mapper.js';
import { type TypeOrmContext, writable } from './typeorm-context.js';

export class TypeOrmScheduleStorage extends ScheduleStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async createSchedule(schedule: Schedule, maxPerUser = Infinity): Promise<boolean> {
    return this.db.transaction(async (em) => {
      if (Number.isFinite(maxPerUser)) {
        // Held to the end of the transaction: concurrent creates of one user count one after the other.
        if (this.db.dialect.lockUserSchedules) await em.query(this.db.dialect.lockUserSchedules, [schedule.userId]);
        if ((await this.db.schedules(em).countBy({ user_id: schedule.userId })) >= maxPerUser) return false;
      }
      await this.db.schedules(em).insert(writable(toScheduleRow(schedule)));
      return true;
    });
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const row = await this.db.schedules().findOneBy({ id: scheduleId, user_id: userId });
    return row ? toSchedule(row) : null;
  }

  async hasSchedule(userId: string, scheduleId: string): Promise<boolean> {
    const rows = await this.db.dataSource.query(this.db.queries.scheduleOwned, [userId, scheduleId]);
    return rows.length > 0;
  }

  async listSchedules(userId: string, filter: ScheduleFilter, page: PageRequest | null): Promise<Page<Schedule>> {
    // Raw queries, as the claims read schedules: hydrating entities cost more than the query.
    const { dialect } = this.db;
    const params: unknown[] = [userId];
    const slot = (value: unknown) => {
      params.push(dialect.param(value));
      return dialect.placeholder(params.length);
    };
    const where = [`user_id = ${dialect.placeholder(1)}`];
    if (filter.agentId !== undefined) where.push(`agent_id = ${slot(filter.agentId)}`);
    for (const { key, value } of filter.labels ?? []) where.push(dialect.labelCondition(slot(key), value === null ? null : slot(value)));
    // What scheduleMatches says: active is what pausedReasonOf calls null.
    const active = 'enabled = TRUE AND NOT (ended_at IS NOT NULL AND next_run_at IS NULL)';
    if (filter.status === 'active') where.push(`(${active})`);
    if (filter.status === 'paused') where.push(`NOT (${active})`);
    if (filter.status === 'failing') where.push('consecutive_failures > 0');
    if (filter.status === 'budget_exhausted') where.push(`budget_exhausted_until > ${slot(filter.now)}`);
    const matching = where.join(' AND ');
    const countParams = [...params];
    if (page?.after) where.push(`(created_at, id) < (${slot(page.after.at)}, ${slot(page.after.id)})`);
    const limit = page ? ` LIMIT ${page.limit + 1}` : '';
    const [rows, counted]: [RawScheduleRow[], Array<{ n: number | string }>] = await Promise.all([
      this.db.dataSource.query(`SELECT * FROM schedules WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC${limit}`, params),
      page ? this.db.dataSource.query(`SELECT count(*) AS n FROM schedules WHERE ${matching}`, countParams) : Promise.resolve([]),
    ]);
    const found = Array.from(rows, (row) => scheduleFromRaw(dialect, row));
    if (!page) return { items: found, total: found.length, next: null };
    const items = found.slice(0, page.limit);
    const last = items[items.length - 1];
    return { items, total: Number(counted[0].n), next: found.length > page.limit ? { at: last.createdAt, id: last.id } : null };
  }

  async updateSchedule(
    userId: string,
    scheduleId: string,
    change: (current: Schedule) => Schedule,
    expectedVersion?: number | readonly number[],
  ): Promise<ScheduleUpdateOutcome> {
    return this.db.scheduleWrite(scheduleId, async (em) => {
      const row = await this.db.holdSchedule(em, userId, scheduleId);
      if (!row) return { status: 'not-found' };
      const current = toSchedule(row);
      if (!versionMatches(current.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: current.version };
      const updated = updatedSchedule(current, change(structuredClone(current)));
      const { id, user_id, created_at, last_run_at, ...fields } = toScheduleRow(updated);
      // The version in the WHERE clause makes this a compare-and-set even where the row is not held.
      const result = await this.db.schedules(em).update({ id, user_id, version: current.version }, writable(fields));
      if ((result.affected ?? 0) !== 1) throw new Error(`Schedule ${scheduleId} changed while it was being updated`);
      return { status: 'updated', schedule: structuredClone(updated) };
    });
  }

  async putScheduleByKey(
    userId: string,
    key: string,
    build: (current: Schedule | null) => Schedule,
    { expectedVersion, maxPerUser = Infinity }: { expectedVersion?: readonly number[]; maxPerUser?: number } = {},
  ): Promise<SchedulePutOutcome> {
    return this.db.transaction(async (em) => {
      const { dialect } = this.db;
      // Every create of the user queues here (as createSchedule's count does), so two puts of one new key cannot both insert.
      if (dialect.lockUserSchedules) await em.query(dialect.lockUserSchedules, [userId]);
      const query = this.db
        .schedules(em)
        .createQueryBuilder('s')
        .where('s.user_id = :userId AND s.schedule_key = :key', { userId, key });
      const row = await (dialect.rowLocks ? query.setLock('pessimistic_write') : query).getOne();
      if (!row) {
        if (expectedVersion !== undefined) return { status: 'version-mismatch', storedVersion: null };
        const schedule = build(null);
        if (Number.isFinite(maxPerUser) && (await this.db.schedules(em).countBy({ user_id: userId })) >= maxPerUser) return { status: 'limit-reached' };
        await this.db.schedules(em).insert(writable(toScheduleRow(schedule)));
        return { status: 'created', schedule: structuredClone(schedule) };
      }
      const current = toSchedule(row);
      if (!versionMatches(current.version, expectedVersion)) return { status: 'version-mismatch', storedVersion: current.version };
      const copy = structuredClone(current);
      const built = build(copy);
      if (built === copy) return { status: 'unchanged', schedule: current };
      const updated = updatedSchedule(current, built);
      const { id, user_id, created_at, last_run_at, ...fields } = toScheduleRow(updated);
      const result = await this.db.schedules(em).update({ id, user_id, version: current.version }, writable(fields));
      if ((result.affected ?? 0) !== 1) throw new Error(`Schedule ${id} changed while it was being replaced`);
      return { status: 'replaced', schedule: structuredClone(updated) };
    });
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.db.scheduleWrite(scheduleId, async (em) => {
      const deleted = await this.db.schedules(em).delete({ id: scheduleId, user_id: userId });
      if ((deleted.affected ?? 0) === 0) return false;
      const p = this.db.dialect.placeholder;
      await em.query(`DELETE FROM session_messages WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ${p(1)} AND source_schedule_id = ${p(2)})`, [
        userId,
        scheduleId,
      ]);
      await this.db.sessions(em).delete({ user_id: userId, source_schedule_id: scheduleId });
      await em.query(`DELETE FROM dispatch_attempts WHERE run_id IN (SELECT id FROM runs WHERE user_id = ${p(1)} AND schedule_id = ${p(2)})`, [
        userId,
        scheduleId,
      ]);
      await this.db.outbox(em).delete({ schedule_id: scheduleId });
      await em.query(`DELETE FROM schedule_events WHERE schedule_id = ${p(1)}`, [scheduleId]);
      // The user too: that is how the runs are indexed (a schedule's runs are all its user's).
      await this.db.runs(em).delete({ user_id: userId, schedule_id: scheduleId });
      return true;
    });
  }
}
