import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A schedule done after max_runs fires, and its fires so far: for existing schedules, the runs
 * of theirs that fired, as far as their kept history tells.
 */
export class ScheduleMaxRunsPostgres1765300000000 implements MigrationInterface {
  name = 'ScheduleMaxRunsPostgres1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN max_runs integer, ADD COLUMN fire_count integer NOT NULL DEFAULT 0`);
    await q.query(
      `UPDATE schedules SET fire_count = f.n FROM (SELECT schedule_id, count(*) AS n FROM runs WHERE fired_at IS NOT NULL GROUP BY schedule_id) AS f
        WHERE schedules.id = f.schedule_id`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules DROP COLUMN max_runs, DROP COLUMN fire_count`);
  }
}
