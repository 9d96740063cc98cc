import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A schedule's labels (JSON text; existing schedules have none) and its key, unique per user; the
 * answers of requests with an Idempotency-Key; the kinds of schedule besides cron (a one-off
 * instant, an interval from an anchor; cron_expression '' for them) and jitter.
 */
export class ScheduleFleetPostgres1765500000000 implements MigrationInterface {
  name = 'ScheduleFleetPostgres1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE schedules ADD COLUMN labels text NOT NULL DEFAULT '{}'`);
    await q.query(`ALTER TABLE schedules ADD COLUMN schedule_key varchar(128)`);
    await q.query(`ALTER TABLE schedules ADD COLUMN fire_at timestamptz`);
    await q.query(`ALTER TABLE schedules ADD COLUMN every_seconds integer`);
    await q.query(`ALTER TABLE schedules ADD COLUMN anchor_at timestamptz`);
    await q.query(`ALTER TABLE schedules ADD COLUMN jitter_seconds integer NOT NULL DEFAULT 0`);
    await q.query(`CREATE UNIQUE INDEX schedules_user_key_idx ON schedules (user_id, schedule_key) WHERE schedule_key IS NOT NULL`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        user_id varchar(256) NOT NULL,
        idem_key varchar(255) NOT NULL,
        fingerprint varchar(64) NOT NULL,
        created_at timestamptz NOT NULL,
        status_code integer NULL,
        body text NULL,
        PRIMARY KEY (user_id, idem_key)
      )`);
    await q.query(`CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE idempotency_keys`);
    await q.query(`DROP INDEX schedules_user_key_idx`);
    await q.query(`ALTER TABLE schedules DROP COLUMN jitter_seconds`);
    await q.query(`ALTER TABLE schedules DROP COLUMN anchor_at`);
    await q.query(`ALTER TABLE schedules DROP COLUMN every_seconds`);
    await q.query(`ALTER TABLE schedules DROP COLUMN fire_at`);
    await q.query(`ALTER TABLE schedules DROP COLUMN schedule_key`);
    await q.query(`ALTER TABLE schedules DROP COLUMN labels`);
  }
}
