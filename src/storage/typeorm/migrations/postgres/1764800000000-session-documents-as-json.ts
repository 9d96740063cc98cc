import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Sessions keep their config and state as `json` (the text as written) rather than `jsonb`: the
 * sessions page hands them to the client as they are stored, and printing jsonb back to text cost
 * PostgreSQL more than the rest of the page (see docs/benchmarks.md). Nothing queries inside them;
 * a stateful append converts to jsonb and back in the one statement that writes it.
 */
export class SessionDocumentsAsJsonPostgres1764800000000 implements MigrationInterface {
  name = 'SessionDocumentsAsJsonPostgres1764800000000';

  async up(q: QueryRunner): Promise<void> {
    // Rewrites the table: no statement timeout for it.
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`ALTER TABLE sessions ALTER COLUMN config TYPE json USING config::json, ALTER COLUMN state TYPE json USING state::json`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SET LOCAL statement_timeout = 0`);
    await q.query(`ALTER TABLE sessions ALTER COLUMN config TYPE jsonb USING config::jsonb, ALTER COLUMN state TYPE jsonb USING state::jsonb`);
  }
}
