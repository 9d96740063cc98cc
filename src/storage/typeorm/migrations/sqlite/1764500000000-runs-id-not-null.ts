import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * SQLite lets a non-INTEGER PRIMARY KEY hold NULL unless it also says NOT NULL, and the migration
 * that created `runs` did not say it. SQLite cannot alter a column: the table is rebuilt.
 */
export class RunsIdNotNullSqlite1764500000000 implements MigrationInterface {
  name = 'RunsIdNotNullSqlite1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await this.rebuildRuns(q, 'varchar(64) PRIMARY KEY NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await this.rebuildRuns(q, 'varchar(64) PRIMARY KEY');
  }

  private async rebuildRuns(q: QueryRunner, idColumn: string): Promise<void> {
    await q.query(`
      CREATE TABLE runs_rebuilt (
        id ${idColumn},
        schedule_id varchar(64) NOT NULL,
        user_id varchar(256) NOT NULL,
        session_id varchar(128) NULL,
        trigger varchar(16) NOT NULL,
        scheduled_for datetime NOT NULL,
        fired_at datetime NULL,
        status varchar(16) NOT NULL,
        error text NULL
      )`);
    await q.query(`INSERT INTO runs_rebuilt SELECT id, schedule_id, user_id, session_id, trigger, scheduled_for, fired_at, status, error FROM runs WHERE id IS NOT NULL`);
    await q.query(`DROP TABLE runs`);
    await q.query(`ALTER TABLE runs_rebuilt RENAME TO runs`);
    await q.query(
      `CREATE UNIQUE INDEX runs_schedule_slot_uq ON runs (schedule_id, scheduled_for) WHERE trigger <> 'manual'`,
    );
    await q.query(`CREATE INDEX runs_user_schedule_time_idx ON runs (user_id, schedule_id, scheduled_for, id)`);
  }
}
