import type { EntityManager } from 'typeorm';
import {
  type ClaimOutcome,
  decideFire,
  type DueFirePlan,
  failedFireRun,
  type FireWrite,
  keepsMessageUntilReleased,
  type ScheduleActivity,
} from '../../domain/fire.js';
import type { Run } from '../../domain/run.js';
import { doneAfterClaim, type DoneReason, type Schedule } from '../../domain/schedule.js';
import { scheduleEvent, type ScheduleEvent } from '../../domain/schedule-event.js';
import { afterFireTime, budgetBlocksUntil, statsToJson } from '../../domain/schedule-stats.js';
import type { OutboxRow } from './entities/outbox.entity.js';
import { toRunRow, toSessionRow } from './entities/row.mapper.js';
import type { SessionRow } from './entities/session.entity.js';
import type { TypeOrmContext } from './typeorm-context.js';

// How fires are written on the SQL backends: a claim batch in a handful of multi-row statements,
// a stateful fire's message appended in SQL (the session's document never leaves the database).

/** A claimed schedule's plan once its fire has been decided (decideFire): what the claim writes. */
export interface DecidedClaim {
  scheduleId: string;
  /** The fire to write (recorded or dispatched); null when the plan has none or it was skipped. */
  fire: FireWrite | null;
  /** The dispatched fire's outbox entry. */
  outbox: OutboxRow | null;
  /** Whether the fire waits on a stateful session, keeping its message until it is released (keepsMessageUntilReleased). */
  keepsMessage: boolean;
  /** Runs written without a fire: missed fire times, a skipped fire. */
  unfired: Run[];
  nextRunAt: Date | null;
  /** Written, the claim leaves the schedule done, and why (see doneAfterClaim); null when it does not. */
  done: DoneReason | null;
  /** The schedule as claimed: its stats and budget, which the claim's runs move on (afterFireTime). */
  schedule: Schedule;
  /** The skipped fire times still ahead (DueFirePlan.skippedFireTimes); undefined: as they are. */
  skippedFireTimes?: Date[];
  /** The runs the fire cancels (overlap policy `replace`). */
  replaces: string[];
}

/** A claimed schedule's plan, its fire decided by the overlap policy against the schedule's activity. */
export function decidedClaim(plan: DueFirePlan, activity: ScheduleActivity, schedule: Schedule): DecidedClaim {
  const claim = {
    scheduleId: plan.scheduleId,
    nextRunAt: plan.nextRunAt,
    unfired: plan.unfired,
    fire: null,
    outbox: null,
    keepsMessage: false,
    done: doneAfterClaim(schedule, false, plan.nextRunAt),
    schedule,
    skippedFireTimes: plan.skippedFireTimes,
    replaces: [] as string[],
  };
  if (!plan.fire) return claim;
  const decided = decideFire(plan.fire, activity, budgetBlocksUntil(schedule, plan.fire.run.scheduledFor));
  const done = doneAfterClaim(schedule, decided.kind !== 'skip', plan.nextRunAt);
  switch (decided.kind) {
    case 'record':
      return { ...claim, fire: decided.fire, done };
    case 'dispatch':
      return {
        ...claim,
        fire: decided.fire,
        outbox: outboxRow(decided.fire, decided.outboxAvailableAt, null),
        keepsMessage: keepsMessageUntilReleased(decided),
        done,
        replaces: decided.replaces ?? [],
      };
    case 'skip':
      return { ...claim, unfired: [...plan.unfired, decided.run], done };
  }
}

/** The outcome of a claim written as planned: `fired`, with why its fire was written as a skipped run, if it was. */
export function firedOutcome(claim: DecidedClaim): ClaimOutcome {
  const skipReason = claim.unfired.find((r) => r.skipReason !== null)?.skipReason;
  return { scheduleId: claim.scheduleId, status: 'fired', ...(skipReason ? { skipReason } : {}) };
}

/**
 * The outbox entry of a dispatched fire; `availableAt` null holds it (its run waits), with the
 * message a waiting stateful fire keeps until it is released, if any.
 */
export function outboxRow(fire: FireWrite, availableAt: Date | null, kept: FireWrite['message'] | null): OutboxRow {
  return {
    run_id: fire.run.id,
    schedule_id: fire.run.scheduleId,
    available_at: availableAt,
    attempts: 0,
    lease_until: null,
    pending_message: kept && JSON.stringify(kept),
  };
}

export class FireWrites {
  constructor(private readonly db: TypeOrmContext) {}

  /**
   * Writes the decided plans of claimed schedules with a handful of statements, whatever their
   * number: their fires and outbox entries, their unfired runs, and the schedules' advance (fire
   * counts, stats and budget marks included) as one UPDATE; those whose fire was their max_runs-th are done;
   * the events of the transitions (a budget exhausted, max runs reached).
   */
  async writeClaims(em: EntityManager, claims: DecidedClaim[], now: Date): Promise<void> {
    // `replace`: the runs in the way are cancelled before the fires that replace them are written.
    const replacing = claims.filter((c) => c.replaces.length > 0);
    if (replacing.length > 0) {
      const held = await this.db.dispatch.holdSchedules(em, replacing.map((c) => c.scheduleId), false);
      await this.db.dispatch.cancelRuns(em, replacing.flatMap((c) => c.replaces), held, now);
    }
    await this.db.bulk.insert(em, 'outbox', await this.writeFires(em, claims));
    await this.db.bulk.insert(em, 'runs', claims.flatMap((c) => c.unfired).map(toRunRow));
    const events: ScheduleEvent[] = [];
    await this.db.bulk.advanceSchedules(
      em,
      claims.map((c) => {
        const books = afterFireTime(c.schedule, c.fire ? [c.fire.run, ...c.unfired] : c.unfired, c.fire && { at: c.fire.run.scheduledFor });
        if (books.exhaustedNow) events.push(scheduleEvent(c.schedule, 'schedule.budget_exhausted', now, books.budgetExhaustedUntil));
        if (c.done) events.push(scheduleEvent(c.schedule, 'schedule.completed', now));
        return {
          id: c.scheduleId,
          nextRunAt: c.done ? null : c.nextRunAt,
          lastRunAt: c.fire?.firedAt ?? null,
          fired: c.fire !== null,
          stats: statsToJson(books.stats),
          budgetExhaustedUntil: books.budgetExhaustedUntil,
          skippedFireTimes: c.skippedFireTimes ? JSON.stringify(c.skippedFireTimes) : null,
        };
      }),
    );
    for (const reason of ['max_runs_reached', 'completed'] as const) {
      await this.markDone(em, claims.filter((c) => c.done === reason).map((c) => c.scheduleId), reason, now);
    }
    await this.db.events.insert(em, events);
  }

  /** Marks these schedules done (doneAs `reason`): a new version, `updated_at` = `now`. */
  async markDone(em: EntityManager, scheduleIds: readonly string[], reason: DoneReason, now: Date): Promise<void> {
    if (scheduleIds.length === 0) return;
    const { dialect, bulk } = this.db;
    const params: unknown[] = [dialect.param(now), reason];
    const list = bulk.list(params, scheduleIds);
    await em.query(
      `UPDATE schedules SET enabled = FALSE, paused_reason = ${dialect.placeholder(2)}, pause_note = NULL, next_run_at = NULL,
              version = version + 1, updated_at = ${dialect.timestampSlot(dialect.placeholder(1))}
        WHERE id IN ${list}`,
      params,
    );
  }

  /** One claim in its own savepoint; if its fire is refused, a failed run takes its place. */
  async writeClaimAlone(em: EntityManager, claim: DecidedClaim, now: Date): Promise<ClaimOutcome> {
    try {
      await em.transaction((sp) => this.writeClaims(sp, [claim], now));
      return firedOutcome(claim);
    } catch (error) {
      const message = (error as Error).message;
      await this.recordFailedClaim(em, claim, message, now);
      return { scheduleId: claim.scheduleId, status: 'failed', error: message };
    }
  }

  /** Whether a session with this id exists, read in the transaction. */
  async sessionExists(em: EntityManager, sessionId: string): Promise<boolean> {
    const rows = await em.query(`SELECT 1 AS found FROM sessions WHERE id = ${this.db.dialect.placeholder(1)}`, [sessionId]);
    return Array.from(rows as unknown[]).length > 0;
  }

  /**
   * Writes a fire's session: a new one inserted (a stateful one with its context kept apart, see
   * ContextRows), or the message of a stateful fire appended to the one that exists, in SQL (the
   * session is not read), unless the fire waits (`keepsMessage`): then an existing session is
   * left as it is. Returns whether the session existed.
   */
  async writeSession(em: EntityManager, fire: FireWrite, keepsMessage: boolean): Promise<boolean> {
    if (!fire.stateful) {
      await this.db.bulk.insert(em, 'sessions', [toSessionRow(fire.session)]);
      return false;
    }
    const existed = keepsMessage
      ? await this.sessionExists(em, fire.session.id)
      : await this.db.context.append(em, fire.session.id, fire.message, fire.firedAt);
    if (!existed) await this.db.context.insert(em, [fire.session]);
    return existed;
  }

  /**
   * Writes the sessions and runs of the claims' fires as multi-row inserts. Stateful fires write
   * their sessions one by one (writeSession; a schedule has at most one fire in a batch); one that
   * waits on a session that exists keeps its message with its outbox entry. Returns the claims'
   * outbox entries, to insert.
   */
  private async writeFires(em: EntityManager, claims: DecidedClaim[]): Promise<OutboxRow[]> {
    const inserts: SessionRow[] = [];
    const entries: OutboxRow[] = [];
    const fires: FireWrite[] = [];
    for (const { fire, outbox, keepsMessage } of claims) {
      if (!fire) continue;
      fires.push(fire);
      // Stateless sessions go in one multi-row insert; a stateful one is written alone.
      let existed = false;
      if (fire.stateful) existed = await this.writeSession(em, fire, keepsMessage);
      else inserts.push(toSessionRow(fire.session));
      const kept = keepsMessage && existed;
      if (outbox) entries.push({ ...outbox, pending_message: kept ? JSON.stringify(fire.message) : null });
    }
    await this.db.bulk.insert(em, 'sessions', inserts);
    await this.db.bulk.insert(em, 'runs', fires.map((f) => toRunRow(f.run)));
    return entries;
  }

  /** A claim whose fire could not be written: record the failure and still move on to the next fire time. */
  private async recordFailedClaim(em: EntityManager, claim: DecidedClaim, error: string, now: Date): Promise<void> {
    const failed = claim.fire ? [failedFireRun(claim.fire.run, error)] : [];
    try {
      // A fire that failed to write is no fire: it does not count towards max_runs (a one-off's time has passed all the same).
      const done = doneAfterClaim(claim.schedule, false, claim.nextRunAt);
      const unfired = { ...claim, fire: null, outbox: null, keepsMessage: false, unfired: [...failed, ...claim.unfired], done, replaces: [] };
      await em.transaction((sp) => this.writeClaims(sp, [unfired], now));
    } catch {
      // Even the failure cannot be recorded (say, the run already exists): at least do not retry it every tick.
      await this.db.schedules(em).update({ id: claim.scheduleId }, { next_run_at: claim.nextRunAt });
    }
  }
}
