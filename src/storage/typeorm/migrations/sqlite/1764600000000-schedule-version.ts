import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Each schedule's version (its ETag): existing rows start at 1. */
export class ScheduleVersionSqlite1764600000000 implements MigrationInterface {
  name = 'ScheduleVersionSqlite1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN version integer NOT NULL DEFAULT 1`);
  }

  async down(q: QueryRunner): Promise<void> {
    // SQLite 3.35+ drops a column that no index or constraint uses.
    await q.query(`ALTER TABLE schedules DROP COLUMN version`);
  }
}
