import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Why a schedule is paused, the user's note on it, and the failure policy with its count. A
 * schedule that is disabled already was disabled by its user.
 */
export class SchedulePauseSqlite1765200000000 implements MigrationInterface {
  name = 'SchedulePauseSqlite1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN paused_reason varchar(32)`);
    await q.query(`ALTER TABLE schedules ADD COLUMN pause_note text`);
    await q.query(`ALTER TABLE schedules ADD COLUMN pause_after_failures integer`);
    await q.query(`ALTER TABLE schedules ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0`);
    await q.query(`UPDATE schedules SET paused_reason = 'user' WHERE NOT enabled`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['consecutive_failures', 'pause_after_failures', 'pause_note', 'paused_reason']) {
      await q.query(`ALTER TABLE schedules DROP COLUMN ${column}`);
    }
  }
}
