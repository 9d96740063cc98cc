import { DataSource, EntityManager, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { Schedule } from '../../schedules/schedule.model';
import type { Session } from '../../sessions/session.model';
import { appendFireMessage, FireWrite, StorageBase } from '../storage.base';
import type { SqlDialect } from './dialect';
import type { ScheduleRow } from './entities/schedule.entity';
import type { SessionRow } from './entities/session.entity';
import { toSchedule, toScheduleRow, toSession, toSessionRow } from './entities/row.mapper';

const NEWEST_FIRST = { created_at: 'DESC', id: 'DESC' } as const;

/** SQLite (embedded) and PostgreSQL (production) storage, through one TypeORM DataSource. */
export class TypeOrmStorage extends StorageBase {
  private readonly dialect: SqlDialect;
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    super();
    this.dialect = dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite';
  }

  async createSchedule(schedule: Schedule): Promise<void> {
    await this.transaction((em) => this.schedules(em).insert(writable(toScheduleRow(schedule))));
  }

  async getSchedule(userId: string, scheduleId: string): Promise<Schedule | null> {
    const row = await this.schedules().findOneBy({ id: scheduleId, user_id: userId });
    return row ? toSchedule(row) : null;
  }

  async listSchedules(userId: string): Promise<Schedule[]> {
    const rows = await this.schedules().find({ where: { user_id: userId }, order: NEWEST_FIRST });
    return rows.map(toSchedule);
  }

  async updateSchedule(schedule: Schedule): Promise<boolean> {
    const { id, user_id, ...fields } = toScheduleRow(schedule);
    const result = await this.transaction((em) => this.schedules(em).update({ id, user_id }, writable(fields)));
    return (result.affected ?? 0) > 0;
  }

  async deleteSchedule(userId: string, scheduleId: string): Promise<boolean> {
    return this.transaction(async (em) => {
      const deleted = await this.schedules(em).delete({ id: scheduleId, user_id: userId });
      if ((deleted.affected ?? 0) === 0) return false;
      await this.sessions(em).delete({ user_id: userId, source_schedule_id: scheduleId });
      return true;
    });
  }

  async getSession(userId: string, sessionId: string): Promise<Session | null> {
    const row = await this.sessions().findOneBy({ id: sessionId, user_id: userId });
    return row ? toSession(row) : null;
  }

  async listSessionsBySchedule(userId: string, scheduleId: string): Promise<Session[]> {
    const rows = await this.sessions().find({
      where: { user_id: userId, source_schedule_id: scheduleId },
      order: NEWEST_FIRST,
    });
    return rows.map(toSession);
  }

  async recordFire(fire: FireWrite): Promise<Session | null> {
    const { userId, sourceScheduleId } = fire.session;
    if (!sourceScheduleId) return null;
    return this.transaction(async (em) => {
      // Locking the schedule row serialises the fires of one schedule (and races with its deletion).
      const query = this.schedules(em)
        .createQueryBuilder('s')
        .select('s.id')
        .where('s.id = :id AND s.user_id = :userId', { id: sourceScheduleId, userId });
      const schedule = await (this.dialect === 'postgres' ? query.setLock('pessimistic_write') : query).getOne();
      if (!schedule) return null;
      const existing = fire.stateful ? await this.sessions(em).findOneBy({ id: fire.session.id }) : null;
      if (existing) {
        const appended = appendFireMessage(toSession(existing), fire);
        await this.sessions(em).update({ id: appended.id }, writable({ state: appended.state, updated_at: appended.updatedAt }));
        return appended;
      }
      await this.sessions(em).insert(writable(toSessionRow(fire.session)));
      return structuredClone(fire.session);
    });
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  private schedules(em: EntityManager = this.dataSource.manager): Repository<ScheduleRow> {
    return em.getRepository<ScheduleRow>('ScheduleRow');
  }

  private sessions(em: EntityManager = this.dataSource.manager): Repository<SessionRow> {
    return em.getRepository<SessionRow>('SessionRow');
  }

  /**
   * Runs `work` in a transaction. TypeORM's SQLite driver has a single connection, on which
   * concurrent transactions would nest as savepoints of each other, so on SQLite they queue.
   */
  private transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') return this.dataSource.transaction(work);
    const run = this.writeQueue.then(() => this.dataSource.transaction(work));
    this.writeQueue = run.catch(() => undefined);
    return run;
  }
}

/** TypeORM's deep-partial type cannot see through free-form JSON columns; the rows are exact. */
function writable<T>(row: Partial<T>): QueryDeepPartialEntity<T> {
  return row as QueryDeepPartialEntity<T>;
}
