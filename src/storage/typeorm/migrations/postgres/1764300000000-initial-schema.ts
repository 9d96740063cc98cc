import { type MigrationInterface, type QueryRunner } from 'typeorm';

export class InitialSchemaPostgres1764300000000 implements MigrationInterface {
  name = 'InitialSchemaPostgres1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE schedules (
        id varchar(64) COLLATE "C" PRIMARY KEY,
        user_id varchar(256) NOT NULL,
        agent_id varchar(256) NOT NULL,
        name varchar(256) NOT NULL,
        description text NOT NULL,
        enabled boolean NOT NULL,
        timezone varchar(64) NOT NULL,
        cron_expression varchar(256) NOT NULL,
        started_at timestamptz NULL,
        ended_at timestamptz NULL,
        chat_model_config jsonb NOT NULL,
        stateful boolean NOT NULL,
        permission_mode varchar(32) NOT NULL,
        source varchar(16) NOT NULL,
        source_session_id varchar(256) NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX schedules_user_created_idx ON schedules (user_id, created_at, id)`);
    await q.query(`
      CREATE TABLE sessions (
        id varchar(128) COLLATE "C" PRIMARY KEY,
        user_id varchar(256) NOT NULL,
        agent_id varchar(256) NOT NULL,
        source varchar(16) NOT NULL,
        source_schedule_id varchar(64) COLLATE "C" NULL,
        team_id varchar(256) NULL,
        config jsonb NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q.query(
      `CREATE INDEX sessions_user_schedule_created_idx ON sessions (user_id, source_schedule_id, created_at, id)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sessions`);
    await q.query(`DROP TABLE schedules`);
  }
}
