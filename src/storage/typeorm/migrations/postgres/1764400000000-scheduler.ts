import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class SchedulerPostgres1764400000000 implements MigrationInterface {
  name = 'SchedulerPostgres1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN catchup_window_seconds integer NOT NULL DEFAULT 300`);
    await q.query(`ALTER TABLE schedules ADD COLUMN next_run_at timestamptz NULL`);
    await q.query(`ALTER TABLE schedules ADD COLUMN last_run_at timestamptz NULL`);
    await q.query(`CREATE INDEX schedules_due_idx ON schedules (next_run_at, id) WHERE next_run_at IS NOT NULL`);
    await q.query(`
      CREATE TABLE runs (
        id varchar(64) COLLATE "C" PRIMARY KEY,
        schedule_id varchar(64) COLLATE "C" NOT NULL,
        user_id varchar(256) NOT NULL,
        session_id varchar(128) NULL,
        trigger varchar(16) NOT NULL,
        scheduled_for timestamptz NOT NULL,
        fired_at timestamptz NULL,
        status varchar(16) NOT NULL,
        error text NULL
      )`);
    await q.query(
      `CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (schedule_id, scheduled_for) WHERE trigger <> 'manual'`,
    );
    await q.query(`CREATE INDEX runs_user_schedule_time_idx ON runs (user_id, schedule_id, scheduled_for, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE runs`);
    await q.query(`DROP INDEX schedules_due_idx`);
    await q.query(`ALTER TABLE schedules DROP COLUMN last_run_at`);
    await q.query(`ALTER TABLE schedules DROP COLUMN next_run_at`);
    await q.query(`ALTER TABLE schedules DROP COLUMN catchup_window_seconds`);
  }
}
