import { Injectable } from '@nestjs/common';
import { ScheduleNotFound } from '../common/domain-errors.js';
import type { Schedule } from '../domain/schedule.js';
import type { Page, PageRequest } from '../common/page.js';
import { StorageBase } from '../storage/storage.base.js';
import { fireWrite } from '../domain/fire.js';
import type { Session } from '../domain/session.js';

@Injectable()
export class SessionsService {
  constructor(private readonly storage: StorageBase) {}

  /**
   * The sessions the user's schedule triggered, newest first: all of them, or one page;
   * ScheduleNotFound when the schedule is not theirs.
   */
  async listBySchedule(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<Session>> {
    if (!(await this.storage.hasSchedule(userId, scheduleId))) throw new ScheduleNotFound(scheduleId);
    if (page) return this.storage.pageSessionsBySchedule(userId, scheduleId, page);
    const sessions = await this.storage.listSessionsBySchedule(userId, scheduleId);
    return { items: sessions, total: sessions.length, next: null };
  }

  /** Creates (or, for a stateful schedule, appends to) the execution session of one fire. */
  async fire(schedule: Schedule, firedAt: Date): Promise<Session> {
    const session = await this.storage.recordFire(fireWrite(schedule, firedAt));
    if (!session) throw new ScheduleNotFound(schedule.id);
    return session;
  }
}
