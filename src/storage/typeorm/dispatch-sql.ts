import type { EntityManager } from 'typeorm';
import { NO_ACTIVITY, type ScheduleActivity, timeoutAfter } from '../../domain/fire.js';
import { CANCELLED_ERROR, type RunStatus, type RunUsage } from '../../domain/run.js';
import type { Budget } from '../../domain/budget.js';
import { failuresAfter, type Schedule } from '../../domain/schedule.js';
import { scheduleEvent, type ScheduleEvent } from '../../domain/schedule-event.js';
import { afterRunsEnded, statsFromJson, statsToJson } from '../../domain/schedule-stats.js';
import { BulkSql, ROWS_PER_STATEMENT } from './bulk-sql.js';
import type { ContextRows } from './context-rows.js';
import type { SqlDialect } from './dialect.js';
import type { EventRows } from './event-rows.js';
import { ACTIVE_RUN } from './entities/run.entity.js';

// The statements of dispatch (overlap, outbox, run endings, pruning) as plain SQL with positional
// parameters, like bulk-sql.ts: several of them run for a whole claim batch at once.

/** A schedule held by the transaction, with what releasing its waiting run needs. */
export interface HeldSchedule
  extends Pick<Schedule, 'userId' | 'enabled' | 'consecutiveFailures' | 'pauseAfterFailures' | 'budget' | 'timezone' | 'stats' | 'budgetExhaustedUntil'> {
  id: string;
  runTimeoutSeconds: number;
}

/** An active run to end, and how. */
export interface RunEnding {
  runId: string;
  scheduleId: string;
  status: RunStatus;
  error: string | null;
  /** What the run consumed, reported with its final status; null for endings the service decides (time-outs, give-ups). */
  usage: RunUsage | null;
  /** Its delivery gave up (Run.gaveUp). */
  gaveUp?: boolean;
}

export class DispatchSql {
  private readonly bulk: BulkSql;

  /** `context`: where a released fire's kept message is appended (within the bounds); `events`: where transitions' events go. */
  constructor(
    private readonly dialect: SqlDialect,
    private readonly context: ContextRows,
    private readonly events: EventRows,
  ) {
    this.bulk = new BulkSql(dialect);
  }

  /**
   * The activity of each schedule at its fire's time (decideFire's input), for many schedules in
   * one statement: the oldest active run that is not waiting and not timed out at that time, and
   * the oldest waiting one (pending, its outbox entry held). Schedules without either are absent.
   */
  async activities(em: EntityManager, fires: ReadonlyArray<{ scheduleId: string; firedAt: Date }>): Promise<Map<string, ScheduleActivity>> {
    const activities = new Map<string, ScheduleActivity>();
    for (const chunk of chunks(fires)) {
      const params: unknown[] = [];
      const values = this.bulk.values(params, chunk.map((f) => [f.scheduleId, f.firedAt]), [1]);
      const rows: Array<{ schedule_id: string; active_run_id: string | null; waiting_run_id: string | null }> = await em.query(
        `SELECT r.schedule_id AS schedule_id,
                min(CASE WHEN o.run_id IS NULL OR o.available_at IS NOT NULL THEN
                      CASE WHEN r.timeout_at IS NULL OR r.timeout_at > v.column2 THEN r.id END END) AS active_run_id,
                min(CASE WHEN o.run_id IS NOT NULL AND o.available_at IS NULL AND r.status = 'pending' THEN r.id END) AS waiting_run_id
           FROM (${values}) AS v
           JOIN runs r ON r.schedule_id = v.column1
           LEFT JOIN outbox o ON o.run_id = r.id
          WHERE r.${ACTIVE_RUN}
          GROUP BY r.schedule_id`,
        params,
      );
      for (const row of Array.from(rows)) {
        activities.set(row.schedule_id, { activeRunId: row.active_run_id ?? null, waitingRunId: row.waiting_run_id ?? null });
      }
    }
    return activities;
  }

  /** activities() for one fire. */
  async activity(em: EntityManager, scheduleId: string, firedAt: Date): Promise<ScheduleActivity> {
    return (await this.activities(em, [{ scheduleId, firedAt }])).get(scheduleId) ?? NO_ACTIVITY;
  }

  /**
   * Holds these schedules' rows until the transaction ends, in id order (so that two holders of
   * several never deadlock); with `skipLocked`, those another transaction holds are left out.
   * Returns those held (that exist). Where the engine has no row locks, its transactions queue.
   */
  async holdSchedules(em: EntityManager, ids: readonly string[], skipLocked: boolean): Promise<HeldSchedule[]> {
    const held: HeldSchedule[] = [];
    // Sorted here too, so that the chunks take their locks in one ascending order.
    for (const chunk of chunks([...new Set(ids)].sort(byteOrder))) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      const rows: Array<{
        id: string;
        user_id: string;
        run_timeout_seconds: number;
        enabled: boolean | number;
        consecutive_failures: number;
        pause_after_failures: number | null;
        timezone: string;
        budget: string | null;
        stats: string;
        budget_exhausted_until: Date | string | null;
      }> = await em.query(
        `SELECT id, user_id, run_timeout_seconds, enabled, consecutive_failures, pause_after_failures, timezone, budget, stats, budget_exhausted_until
           FROM schedules WHERE id IN ${list} ORDER BY id${this.dialect.lockClause(skipLocked)}`,
        params,
      );
      for (const row of Array.from(rows)) {
        held.push({
          id: row.id,
          userId: row.user_id,
          runTimeoutSeconds: Number(row.run_timeout_seconds),
          enabled: Boolean(row.enabled),
          consecutiveFailures: Number(row.consecutive_failures),
          pauseAfterFailures: row.pause_after_failures == null ? null : Number(row.pause_after_failures),
          timezone: row.timezone,
          budget: row.budget ? (JSON.parse(row.budget) as Budget) : null,
          stats: statsFromJson(row.stats),
          budgetExhaustedUntil: row.budget_exhausted_until == null ? null : this.dialect.timestampFromRaw(row.budget_exhausted_until),
        });
      }
    }
    return held;
  }

  /**
   * Ends active runs, in a transaction that holds their schedules: each takes its status, error and
   * usage, `finished_at` = `now`; their outbox entries go; each schedule's failure count, stats and
   * budget period follow (keepBooks), and one that reaches its pause_after_failures is paused; each schedule's
   * waiting run is released. Returns how many waiting runs it released (their entries are
   * deliverable now).
   */
  async endRuns(em: EntityManager, endings: readonly RunEnding[], held: readonly HeldSchedule[], now: Date): Promise<number> {
    if (endings.length === 0) return 0;
    for (const chunk of chunks(endings)) {
      const params: unknown[] = [this.dialect.param(now)];
      const values = this.bulk.values(
        params,
        chunk.map((e) => [e.runId, e.status, e.error, e.usage?.inputTokens ?? null, e.usage?.outputTokens ?? null, e.usage?.costUsd ?? null, e.gaveUp ? 1 : 0]),
      );
      // VALUES gives its parameters no type on PostgreSQL (text, when all are null): cast to the columns'.
      await em.query(
        `UPDATE runs SET status = v.column2, error = v.column3, finished_at = ${this.dialect.placeholder(1)},
                usage_input_tokens = CAST(v.column4 AS bigint), usage_output_tokens = CAST(v.column5 AS bigint),
                usage_cost_usd = CAST(v.column6 AS double precision), gave_up = (CAST(v.column7 AS integer) = 1)
           FROM (${values}) AS v WHERE runs.id = v.column1`,
        params,
      );
    }
    await this.deleteOutbox(em, endings.map((e) => e.runId));
    await this.keepBooks(em, endings, held, now);
    const schedules = new Set(endings.map((e) => e.scheduleId));
    return this.releaseWaiting(em, held.filter((s) => schedules.has(s.id)), now);
  }

  /**
   * Each held schedule's bookkeeping after these endings, in their order: its failure count
   * (failuresAfter), its stats and its budget's period (afterRunsEnded), in one statement per
   * chunk. One that reaches its pause_after_failures is disabled as the failure policy's pause:
   * no next fire, a new version (its ETag changes), `updated_at` = `now`. The held rows follow,
   * for later endings in the same transaction.
   */
  private async keepBooks(em: EntityManager, endings: readonly RunEnding[], held: readonly HeldSchedule[], now: Date): Promise<void> {
    const endingsBySchedule = new Map<string, RunEnding[]>();
    for (const e of endings) {
      const list = endingsBySchedule.get(e.scheduleId);
      if (list) list.push(e);
      else endingsBySchedule.set(e.scheduleId, [e]);
    }
    const changed: HeldSchedule[] = [];
    const paused: string[] = [];
    const events: ScheduleEvent[] = [];
    for (const schedule of held) {
      const ended = endingsBySchedule.get(schedule.id);
      if (!ended) continue;
      const { consecutiveFailures, pause } = failuresAfter(schedule, ended.map((e) => e.status));
      const books = afterRunsEnded(schedule, ended.map((e) => ({ ...e, at: now })), now);
      changed.push(Object.assign(schedule, { consecutiveFailures, stats: books.stats, budgetExhaustedUntil: books.budgetExhaustedUntil }));
      if (books.exhaustedNow) events.push(scheduleEvent(schedule, 'schedule.budget_exhausted', now, books.budgetExhaustedUntil));
      if (pause) {
        paused.push(schedule.id);
        schedule.enabled = false;
        events.push(scheduleEvent(schedule, 'schedule.paused', now));
      }
    }
    await this.events.insert(em, events);
    for (const chunk of chunks(changed)) {
      const params: unknown[] = [];
      const values = this.bulk.values(
        params,
        chunk.map((s) => [s.id, s.consecutiveFailures, statsToJson(s.stats), s.budgetExhaustedUntil]),
        [3],
      );
      await em.query(
        `UPDATE schedules SET consecutive_failures = CAST(v.column2 AS integer), stats = v.column3, budget_exhausted_until = v.column4
           FROM (${values}) AS v WHERE schedules.id = v.column1`,
        params,
      );
    }
    for (const chunk of chunks(paused)) {
      const params: unknown[] = [this.dialect.param(now)];
      const list = this.bulk.list(params, chunk);
      await em.query(
        `UPDATE schedules SET enabled = FALSE, paused_reason = 'consecutive_failures', pause_note = NULL, next_run_at = NULL,
                version = version + 1, updated_at = ${this.dialect.timestampSlot(this.dialect.placeholder(1))}
          WHERE id IN ${list}`,
        params,
      );
    }
  }

  /**
   * Cancels these active runs of held schedules (a user's cancel, or the `replace` policy): each
   * ends `cancelled` as endRuns ends runs (the schedules' waiting runs are released), and those
   * the runtime may have (not `pending`, or with a lease on their entry that has not ended) get a
   * `run.cancelled` event. Runs that are not active are left alone. Returns how many waiting runs
   * it released.
   */
  async cancelRuns(em: EntityManager, runIds: readonly string[], held: readonly HeldSchedule[], now: Date): Promise<number> {
    if (runIds.length === 0) return 0;
    const runs: Array<{ id: string; schedule_id: string; user_id: string; status: string; lease_until: Date | string | null }> = [];
    for (const chunk of chunks(runIds)) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      const rows = await em.query(
        `SELECT r.id, r.schedule_id, r.user_id, r.status, o.lease_until FROM runs r LEFT JOIN outbox o ON o.run_id = r.id
          WHERE r.id IN ${list} AND r.${ACTIVE_RUN}`,
        params,
      );
      runs.push(...Array.from(rows as typeof runs));
    }
    const endings = runs.map((r): RunEnding => ({ runId: r.id, scheduleId: r.schedule_id, status: 'cancelled', error: CANCELLED_ERROR, usage: null }));
    const released = await this.endRuns(em, endings, held, now);
    const told = runs.filter((r) => r.status !== 'pending' || (r.lease_until != null && this.dialect.timestampFromRaw(r.lease_until) > now));
    await this.events.insert(em, told.map((r) => scheduleEvent({ id: r.schedule_id, userId: r.user_id }, 'run.cancelled', now, null, r.id)));
    return released;
  }

  /**
   * Releases the waiting run of each schedule (held by the transaction): its outbox entry becomes
   * available at `now`, and it times out its schedule's run timeout after `now`. A message the
   * entry kept (a waiting stateful fire) is appended to the run's session now, and cleared.
   * Returns how many it released.
   */
  async releaseWaiting(em: EntityManager, schedules: readonly HeldSchedule[], now: Date): Promise<number> {
    let released = 0;
    await this.appendKeptMessages(em, 'schedule_id', schedules.map((s) => s.id), now);
    for (const chunk of chunks(schedules)) {
      const timeouts: unknown[] = [];
      const values = this.bulk.values(timeouts, chunk.map((s) => [s.id, timeoutAfter(now, s.runTimeoutSeconds)]), [1]);
      await em.query(
        `UPDATE runs SET timeout_at = v.column2
           FROM outbox o JOIN (${values}) AS v ON o.schedule_id = v.column1
          WHERE runs.id = o.run_id AND o.available_at IS NULL AND runs.status = 'pending'`,
        timeouts,
      );
      const params: unknown[] = [this.dialect.param(now)];
      const ids = this.bulk.list(params, chunk.map((s) => s.id));
      const result = await em.queryRunner!.query(
        `UPDATE outbox SET available_at = ${this.dialect.placeholder(1)}, pending_message = NULL
          WHERE available_at IS NULL AND schedule_id IN ${ids}`,
        params,
        true,
      );
      released += result.affected ?? 0;
    }
    return released;
  }

  /**
   * Appends the messages kept by the held outbox entries whose `column` is one of `ids` (waiting
   * stateful fires) to their runs' sessions, as a fire appends them: in SQL, within the bound,
   * `updated_at` = `now`. The entries keep them: the caller releases or deletes the entries.
   * A schedule has at most one waiting run, so this is a statement per schedule that has one.
   */
  async appendKeptMessages(em: EntityManager, column: 'schedule_id' | 'run_id', ids: readonly string[], now: Date): Promise<void> {
    for (const chunk of chunks(ids)) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      const kept: Array<{ pending_message: string; session_id: string | null }> = await em.query(
        `SELECT o.pending_message, r.session_id FROM outbox o JOIN runs r ON r.id = o.run_id
          WHERE o.${column} IN ${list} AND o.available_at IS NULL AND o.pending_message IS NOT NULL`,
        params,
      );
      for (const row of Array.from(kept)) {
        if (row.session_id !== null) await this.context.append(em, row.session_id, row.pending_message, now);
      }
    }
  }

  /** The rows of `table` with these ids, as the driver returns them (those that exist). */
  async rowsByIds<Row>(em: EntityManager, table: 'runs' | 'schedules' | 'sessions', ids: readonly string[]): Promise<Row[]> {
    const found: Row[] = [];
    for (const chunk of chunks([...new Set(ids)])) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      found.push(...Array.from((await em.query(`SELECT * FROM ${table} WHERE id IN ${list}`, params)) as Row[]));
    }
    return found;
  }

  /** These runs' ids, schedules and statuses, as they are now (those that exist). */
  async runsByIds(em: EntityManager, ids: readonly string[]): Promise<Array<{ id: string; scheduleId: string; status: RunStatus }>> {
    const found: Array<{ id: string; scheduleId: string; status: RunStatus }> = [];
    for (const chunk of chunks(ids)) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      const rows: Array<{ id: string; schedule_id: string; status: RunStatus }> = await em.query(
        `SELECT id, schedule_id, status FROM runs WHERE id IN ${list}`,
        params,
      );
      for (const row of Array.from(rows)) found.push({ id: row.id, scheduleId: row.schedule_id, status: row.status });
    }
    return found;
  }

  /** Of these runs, those still `pending` become `dispatched` (the runtime accepted their webhooks). */
  async markDispatched(em: EntityManager, runIds: readonly string[]): Promise<void> {
    for (const chunk of chunks(runIds)) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      await em.query(`UPDATE runs SET status = 'dispatched' WHERE id IN ${list} AND status = 'pending'`, params);
    }
  }

  /** These runs' outbox entries become available again at their time, unleased, one more attempt counted (those that exist). */
  async retryOutbox(em: EntityManager, retries: ReadonlyArray<{ runId: string; at: Date }>): Promise<void> {
    await this.retryWhereIn(em, 'outbox', 'run_id', retries.map((r) => ({ id: r.runId, at: r.at })));
  }

  /** The rows (of an outbox) whose `column` is a retry's id become available again at its time, unleased, one more attempt counted. */
  async retryWhereIn(em: EntityManager, table: string, column: string, retries: ReadonlyArray<{ id: string; at: Date }>): Promise<void> {
    for (const chunk of chunks(retries)) {
      const params: unknown[] = [];
      const values = this.bulk.values(params, chunk.map((r) => [r.id, r.at]), [1]);
      await em.query(
        `UPDATE ${table} SET available_at = v.column2, lease_until = NULL, attempts = ${table}.attempts + 1
           FROM (${values}) AS v WHERE ${table}.${column} = v.column1`,
        params,
      );
    }
  }

  async deleteOutbox(em: EntityManager, runIds: readonly string[]): Promise<void> {
    await this.deleteWhereIn(em, 'outbox', 'run_id', runIds);
  }

  /** Deletes the rows whose `column` is one of `values`; returns how many. */
  async deleteWhereIn(em: EntityManager, table: string, column: string, values: readonly unknown[]): Promise<number> {
    let deleted = 0;
    for (const chunk of chunks(values)) {
      const params: unknown[] = [];
      const list = this.bulk.list(params, chunk);
      const result = await em.queryRunner!.query(`DELETE FROM ${table} WHERE ${column} IN ${list}`, params, true);
      deleted += result.affected ?? 0;
    }
    return deleted;
  }

  /**
   * Up to `limit` outbox entries deliverable at `now` (released, due, not leased), earliest first,
   * locked until the transaction ends; entries another transaction holds are skipped.
   */
  async dueOutbox(em: EntityManager, now: Date, limit: number): Promise<Array<{ runId: string; attempts: number }>> {
    const p = this.dialect.placeholder;
    const rows: Array<{ run_id: string; attempts: number | string }> = await em.query(
      `SELECT run_id, attempts FROM outbox
        WHERE available_at <= ${p(1)} AND (lease_until IS NULL OR lease_until <= ${p(1)})
        ORDER BY available_at, run_id LIMIT ${p(2)}${this.dialect.lockClause(true)}`,
      [this.dialect.param(now), limit],
    );
    return Array.from(rows, (row) => ({ runId: row.run_id, attempts: Number(row.attempts) }));
  }

  async leaseOutbox(em: EntityManager, runIds: readonly string[], leaseUntil: Date): Promise<void> {
    await this.leaseWhereIn(em, 'outbox', 'run_id', runIds, leaseUntil);
  }

  /** Leases the rows (of an outbox: `outbox`, `schedule_events`) whose `column` is one of `ids` until `leaseUntil`. */
  async leaseWhereIn(em: EntityManager, table: string, column: string, ids: readonly string[], leaseUntil: Date): Promise<void> {
    for (const chunk of chunks(ids)) {
      const params: unknown[] = [this.dialect.param(leaseUntil)];
      const list = this.bulk.list(params, chunk);
      await em.query(`UPDATE ${table} SET lease_until = ${this.dialect.placeholder(1)} WHERE ${column} IN ${list}`, params);
    }
  }

  /** Up to `limit` active runs whose timeout is at or before `now`, earliest first. */
  async dueTimeouts(em: EntityManager, now: Date, limit: number): Promise<Array<{ id: string; scheduleId: string }>> {
    const p = this.dialect.placeholder;
    const rows: Array<{ id: string; schedule_id: string }> = await em.query(
      `SELECT id, schedule_id FROM runs WHERE ${ACTIVE_RUN} AND timeout_at <= ${p(1)} ORDER BY timeout_at, id LIMIT ${p(2)}`,
      [this.dialect.param(now), limit],
    );
    return Array.from(rows, (row) => ({ id: row.id, scheduleId: row.schedule_id }));
  }

  /** Of these runs, those still active and timed out at `now` (re-read once their schedules are held). */
  async stillTimedOut(em: EntityManager, runIds: readonly string[], now: Date): Promise<Array<{ id: string; scheduleId: string }>> {
    const due: Array<{ id: string; scheduleId: string }> = [];
    for (const chunk of chunks(runIds)) {
      const params: unknown[] = [this.dialect.param(now)];
      const list = this.bulk.list(params, chunk);
      const rows: Array<{ id: string; schedule_id: string }> = await em.query(
        `SELECT id, schedule_id FROM runs WHERE id IN ${list} AND ${ACTIVE_RUN} AND timeout_at <= ${this.dialect.placeholder(1)}`,
        params,
      );
      for (const row of Array.from(rows)) due.push({ id: row.id, scheduleId: row.schedule_id });
    }
    return due;
  }

  /**
   * Deletes up to `limit` sessions beyond their schedule's history limit (newest first by
   * created_at, id), never a stateful schedule's own session. Returns how many.
   */
  async pruneSessions(em: EntityManager, limit: number): Promise<number> {
    const result = await em.queryRunner!.query(
      `DELETE FROM sessions WHERE id IN (
         SELECT id FROM (
           SELECT se.id, se.source_schedule_id, s.history_limit,
                  row_number() OVER (PARTITION BY se.user_id, se.source_schedule_id ORDER BY se.created_at DESC, se.id DESC) AS newer
             FROM schedules s JOIN sessions se ON se.user_id = s.user_id AND se.source_schedule_id = s.id
            WHERE s.history_limit IS NOT NULL
         ) AS ranked
         WHERE newer > history_limit AND id <> source_schedule_id || '_stateful'
         LIMIT ${this.dialect.placeholder(1)})`,
      [limit],
      true,
    );
    return result.affected ?? 0;
  }

  /** Up to `limit` runs beyond their schedule's history limit (newest first by scheduled_for, id) that are not active. */
  async prunableRuns(em: EntityManager, limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await em.query(
      `SELECT id FROM (
         SELECT r.id, r.status, s.history_limit,
                row_number() OVER (PARTITION BY r.user_id, r.schedule_id ORDER BY r.scheduled_for DESC, r.id DESC) AS newer
           FROM schedules s JOIN runs r ON r.user_id = s.user_id AND r.schedule_id = s.id
          WHERE s.history_limit IS NOT NULL
       ) AS ranked
       WHERE newer > history_limit AND status NOT IN ('pending', 'dispatched', 'running')
       LIMIT ${this.dialect.placeholder(1)}`,
      [limit],
    );
    return Array.from(rows, (row) => row.id);
  }
}

/** `items` in slices of at most ROWS_PER_STATEMENT, for statements with a parameter or a tuple per item. */
function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) yield items.slice(i, i + ROWS_PER_STATEMENT);
}

/** Code-unit order: for the ids this service makes (ASCII), their order under "C" and in SQLite. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
