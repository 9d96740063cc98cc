import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A schedule done after max_runs fires, and its fires so far: for existing schedules, the runs
 * of theirs that fired, as far as their kept history tells.
 */
export class ScheduleMaxRunsSqlite1765300000000 implements MigrationInterface {
  name = 'ScheduleMaxRunsSqlite1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN max_runs integer`);
    await q.query(`ALTER TABLE schedules ADD COLUMN fire_count integer NOT NULL DEFAULT 0`);
    await q.query(`UPDATE schedules SET fire_count = (SELECT count(*) FROM runs WHERE runs.schedule_id = schedules.id AND runs.fired_at IS NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules DROP COLUMN fire_count`);
    await q.query(`ALTER TABLE schedules DROP COLUMN max_runs`);
  }
}
