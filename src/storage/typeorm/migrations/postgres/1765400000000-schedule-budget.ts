import type { MigrationInterface, QueryRunner } from 'typeorm';
import { STATS_FROM_RUNS } from '../stats-from-runs.js';

/**
 * A schedule's budget, its exhaustion mark and its stats (JSON text; for existing schedules, the
 * counts of their kept runs), why a skipped run was skipped (existing ones: their overlap policy),
 * and the outbox of the schedules' events.
 */
export class ScheduleBudgetPostgres1765400000000 implements MigrationInterface {
  name = 'ScheduleBudgetPostgres1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs ADD COLUMN skip_reason varchar(32)`);
    await q.query(`UPDATE runs SET skip_reason = 'overlap' WHERE status = 'skipped'`);
    await q.query(`ALTER TABLE schedules ADD COLUMN budget text, ADD COLUMN budget_exhausted_until timestamptz, ADD COLUMN stats text NOT NULL DEFAULT '{}'`);
    await q.query(`UPDATE schedules SET stats = ${STATS_FROM_RUNS}`);
    await q.query(`
      CREATE TABLE schedule_events (
        id varchar(64) COLLATE "C" PRIMARY KEY,
        schedule_id varchar(64) COLLATE "C" NOT NULL,
        user_id varchar(256) NOT NULL,
        type varchar(32) NOT NULL,
        occurred_at timestamptz NOT NULL,
        resets_at timestamptz NULL,
        available_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        lease_until timestamptz NULL
      )`);
    await q.query(`CREATE INDEX schedule_events_due_idx ON schedule_events (available_at, id)`);
    await q.query(`CREATE INDEX schedule_events_schedule_idx ON schedule_events (schedule_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE schedule_events`);
    await q.query(`ALTER TABLE schedules DROP COLUMN budget, DROP COLUMN budget_exhausted_until, DROP COLUMN stats`);
    await q.query(`ALTER TABLE runs DROP COLUMN skip_reason`);
  }
}
