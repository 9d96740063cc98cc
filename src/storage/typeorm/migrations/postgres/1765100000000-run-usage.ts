import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What a run consumed, as its runtime reports it with the final status: null until then. */
export class RunUsagePostgres1765100000000 implements MigrationInterface {
  name = 'RunUsagePostgres1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE runs ADD COLUMN usage_input_tokens bigint, ADD COLUMN usage_output_tokens bigint, ADD COLUMN usage_cost_usd double precision`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runs DROP COLUMN usage_input_tokens, DROP COLUMN usage_output_tokens, DROP COLUMN usage_cost_usd`);
  }
}
