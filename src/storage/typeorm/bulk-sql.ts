import type { EntityManager, ObjectLiteral } from 'typeorm';
import type { SqlDialect } from './dialect.js';

// Batch writes of the claim path as plain SQL with positional parameters. TypeORM's query
// builder spends more time on named parameters than the database spends on the rows, so the
// hot path bypasses it; values are converted here the way TypeORM stores them.
// On PostgreSQL a batch is one parameter instead of one per value: rows as a JSON array expanded
// by json_populate_recordset (typed by the table's own row type; a `json` column keeps the text
// of its value as written, a `jsonb` one parses it), updates as unnested arrays.
// A statement with a parameter per value (5 000 for 500 sessions) cost PostgreSQL more to parse,
// plan and bind than writing the rows; and one JSON array is stringified and parsed once, where
// each document was stringified and parsed on its own.

export const ROWS_PER_STATEMENT = 500;

export class BulkSql {
  constructor(private readonly dialect: SqlDialect) {}

  /** Inserts rows (objects keyed by column name, all with the same keys) with multi-row INSERTs. */
  async insert(em: EntityManager, table: string, rows: ObjectLiteral[]): Promise<void> {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]);
    if (this.dialect.batchAsOneParam) {
      // The rows as they are: JSON columns hold objects, which nest; Dates become ISO-8601 text.
      const list = columns.join(', ');
      await em.query(`INSERT INTO ${table} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${table}, $1::json)`, [
        JSON.stringify(rows),
      ]);
      return;
    }
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const params: unknown[] = [];
      const tuples = rows.slice(i, i + ROWS_PER_STATEMENT).map((row) => {
        const slots = columns.map((column) => this.slot(params, row[column]));
        return `(${slots.join(', ')})`;
      });
      await em.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`, params);
    }
  }

  /**
   * Sets next_run_at, and last_run_at where given, of many schedules in one UPDATE; counts one
   * fire more for those that `fired`.
   */
  async advanceSchedules(
    em: EntityManager,
    updates: Array<{
      id: string;
      nextRunAt: Date | null;
      lastRunAt: Date | null;
      fired: boolean;
      stats: string;
      budgetExhaustedUntil: Date | null;
      /** JSON text of the skipped fire times still ahead; null: as they are. */
      skippedFireTimes: string | null;
    }>,
  ): Promise<void> {
    if (updates.length === 0) return;
    if (this.dialect.batchAsOneParam) {
      await em.query(
        `UPDATE schedules SET next_run_at = v.next_run_at, last_run_at = COALESCE(v.last_run_at, schedules.last_run_at),
                fire_count = schedules.fire_count + v.fired, stats = v.stats, budget_exhausted_until = v.budget_exhausted_until,
                skipped_fire_times = COALESCE(v.skipped, schedules.skipped_fire_times)
           FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::integer[], $5::text[], $6::timestamptz[], $7::text[])
             AS v(id, next_run_at, last_run_at, fired, stats, budget_exhausted_until, skipped)
          WHERE schedules.id = v.id`,
        [
          updates.map((u) => u.id),
          updates.map((u) => this.dialect.param(u.nextRunAt)),
          updates.map((u) => this.dialect.param(u.lastRunAt)),
          updates.map((u) => (u.fired ? 1 : 0)),
          updates.map((u) => u.stats),
          updates.map((u) => this.dialect.param(u.budgetExhaustedUntil)),
          updates.map((u) => u.skippedFireTimes),
        ],
      );
      return;
    }
    for (let i = 0; i < updates.length; i += ROWS_PER_STATEMENT) {
      const params: unknown[] = [];
      const tuples = updates.slice(i, i + ROWS_PER_STATEMENT).map((u) => {
        const id = this.slot(params, u.id);
        const next = this.dialect.timestampSlot(this.slot(params, u.nextRunAt));
        const last = this.dialect.timestampSlot(this.slot(params, u.lastRunAt));
        const stats = this.slot(params, u.stats);
        const exhausted = this.dialect.timestampSlot(this.slot(params, u.budgetExhaustedUntil));
        const skipped = this.slot(params, u.skippedFireTimes);
        return `(${id}, ${next}, ${last}, ${u.fired ? 1 : 0}, ${stats}, ${exhausted}, ${skipped})`;
      });
      // VALUES columns are column1, column2, … in both PostgreSQL and SQLite.
      await em.query(
        `UPDATE schedules SET next_run_at = v.column2, last_run_at = COALESCE(v.column3, schedules.last_run_at),
                fire_count = schedules.fire_count + v.column4, stats = v.column5, budget_exhausted_until = v.column6,
                skipped_fire_times = COALESCE(v.column7, schedules.skipped_fire_times)
           FROM (VALUES ${tuples.join(', ')}) AS v WHERE schedules.id = v.column1`,
        params,
      );
    }
  }

  /**
   * A VALUES list of `rows` (arrays of one length), their values appended to `params`; the columns
   * at the indexes in `timestamps` are typed as timestamps. In SQL its columns are column1, column2, …
   */
  values(params: unknown[], rows: readonly unknown[][], timestamps: readonly number[] = []): string {
    const tuples = rows.map((row) => {
      const slots = row.map((value, i) => {
        const slot = this.slot(params, value);
        return timestamps.includes(i) ? this.dialect.timestampSlot(slot) : slot;
      });
      return `(${slots.join(', ')})`;
    });
    return `VALUES ${tuples.join(', ')}`;
  }

  /** A parenthesised list of placeholders for `values`, appended to `params` (for `IN`). */
  list(params: unknown[], values: readonly unknown[]): string {
    return `(${values.map((value) => this.slot(params, value)).join(', ')})`;
  }

  /** Adds a value to the parameters and returns its placeholder. */
  slot(params: unknown[], value: unknown): string {
    params.push(this.dialect.param(value));
    return this.dialect.placeholder(params.length);
  }
}
