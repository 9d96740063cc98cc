import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outbox is a queue: every fire inserts a row and every delivery deletes it, thousands a
 * second under load, while claims scan it by its due index. Vacuumed at PostgreSQL's default
 * (a fifth of the table dead) its dead rows pile up in that index and every claim wades through
 * them; vacuumed every thousand dead rows, without the cost delay, the scan stays short.
 */
export class OutboxVacuumPostgres1765000000000 implements MigrationInterface {
  name = 'OutboxVacuumPostgres1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay)`);
  }
}
