import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dispatch to the agent runtime: each schedule's overlap policy, run timeout and history limit;
 * each run's end and timeout; the outbox of webhooks to deliver (holding a waiting stateful fire's
 * message until its run is released) and the attempts made. Existing schedules take the defaults;
 * existing succeeded runs (record-only fires) finished when they fired.
 */
export class DispatchPostgres1764700000000 implements MigrationInterface {
  name = 'DispatchPostgres1764700000000';

  async up(q: QueryRunner): Promise<void> {
    // The backfill rewrites every succeeded run: on a large history that outlasts statement_timeout.
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`ALTER TABLE schedules ADD COLUMN overlap_policy varchar(16) NOT NULL DEFAULT 'skip'`);
    await q.query(`ALTER TABLE schedules ADD COLUMN run_timeout_seconds integer NOT NULL DEFAULT 3600`);
    await q.query(`ALTER TABLE schedules ADD COLUMN history_limit integer NULL`);
    await q.query(`CREATE INDEX schedules_history_limited_idx ON schedules (id) WHERE history_limit IS NOT NULL`);
    await q.query(`ALTER TABLE runs ADD COLUMN finished_at timestamptz NULL`);
    await q.query(`ALTER TABLE runs ADD COLUMN timeout_at timestamptz NULL`);
    await q.query(`UPDATE runs SET finished_at = fired_at WHERE status = 'succeeded'`);
    await q.query(`CREATE INDEX runs_active_idx ON runs (schedule_id, id) WHERE status IN ('pending', 'dispatched', 'running')`);
    await q.query(`CREATE INDEX runs_timeout_idx ON runs (timeout_at, id) WHERE status IN ('pending', 'dispatched', 'running')`);
    await q.query(`
      CREATE TABLE outbox (
        run_id varchar(64) COLLATE "C" PRIMARY KEY,
        schedule_id varchar(64) COLLATE "C" NOT NULL,
        available_at timestamptz NULL,
        attempts integer NOT NULL DEFAULT 0,
        lease_until timestamptz NULL,
        pending_message text NULL
      )`);
    await q.query(`CREATE INDEX outbox_due_idx ON outbox (available_at, run_id) WHERE available_at IS NOT NULL`);
    await q.query(`CREATE INDEX outbox_schedule_idx ON outbox (schedule_id)`);
    await q.query(`
      CREATE TABLE dispatch_attempts (
        id bigserial PRIMARY KEY,
        run_id varchar(64) COLLATE "C" NOT NULL,
        at timestamptz NOT NULL,
        status_code integer NULL,
        error text NULL,
        duration_ms integer NOT NULL
      )`);
    await q.query(`CREATE INDEX dispatch_attempts_run_idx ON dispatch_attempts (run_id, at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE dispatch_attempts`);
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP INDEX runs_timeout_idx`);
    await q.query(`DROP INDEX runs_active_idx`);
    await q.query(`ALTER TABLE runs DROP COLUMN timeout_at`);
    await q.query(`ALTER TABLE runs DROP COLUMN finished_at`);
    await q.query(`DROP INDEX schedules_history_limited_idx`);
    await q.query(`ALTER TABLE schedules DROP COLUMN history_limit`);
    await q.query(`ALTER TABLE schedules DROP COLUMN run_timeout_seconds`);
    await q.query(`ALTER TABLE schedules DROP COLUMN overlap_policy`);
  }
}
