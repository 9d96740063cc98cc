import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A schedule's labels (JSON text; existing schedules have none). */
export class ScheduleFleetSqlite1765500000000 implements MigrationInterface {
  name = 'ScheduleFleetSqlite1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN labels text NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules DROP COLUMN labels`);
  }
}
