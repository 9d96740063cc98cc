import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a run fired differently from its schedule, the run a replay fired again, and the fire times
 * a user skipped ahead (JSON text; none for existing schedules). Replays, like
 * manual runs, take no fire time: the one-run-per-fire-time key leaves them out.
 */
export class RunControlPostgres1765600000000 implements MigrationInterface {
  name = 'RunControlPostgres1765600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ADD COLUMN overrides text`);
    await q.query(`ALTER TABLE runs ADD COLUMN replay_of varchar(64)`);
    await q.query(`ALTER TABLE runs ADD COLUMN gave_up boolean NOT NULL DEFAULT FALSE`);
    await q.query(`ALTER TABLE schedules ADD COLUMN skipped_fire_times text NOT NULL DEFAULT '[]'`);
    await q.query(`CREATE INDEX runs_user_time_idx ON runs (user_id, scheduled_for, id)`);
    await q.query(`ALTER TABLE schedule_events ADD COLUMN run_id varchar(64)`);
    await q.query(`DROP INDEX runs_schedule_slot_uq`);
    await q.query(`CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (schedule_id, scheduled_for) WHERE trigger <> 'manual' AND trigger <> 'replay'`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Before replays, a run asked for whenever was a manual one.
    await q.query(`UPDATE runs SET trigger = 'manual' WHERE trigger = 'replay'`);
    await q.query(`DROP INDEX runs_schedule_slot_uq`);
    await q.query(`CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (schedule_id, scheduled_for) WHERE trigger <> 'manual'`);
    await q.query(`ALTER TABLE schedule_events DROP COLUMN run_id`);
    await q.query(`DROP INDEX runs_user_time_idx`);
    await q.query(`ALTER TABLE schedules DROP COLUMN skipped_fire_times`);
    await q.query(`ALTER TABLE runs DROP COLUMN gave_up`);
    await q.query(`ALTER TABLE runs DROP COLUMN replay_of`);
    await q.query(`ALTER TABLE runs DROP COLUMN overrides`);
  }
}
