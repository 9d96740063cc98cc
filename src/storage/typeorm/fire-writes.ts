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
import type { Session } from '../../domain/session.js';
import type { OutboxRow } from './entities/outbox.entity.js';
import { toRunRow, toSessionRow } from './entities/row.mapper.js';
import type { SessionRow } from './entities/session.entity.js';
import { type RawSessionRow, SESSION_COLUMNS, sessionFromRaw } from './session-queries.js';
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
}

/** A claimed schedule's plan, its fire decided by the overlap policy against the schedule's activity. */
export function decidedClaim(plan: DueFirePlan, activity: ScheduleActivity): DecidedClaim {
  const claim = { scheduleId: plan.scheduleId, nextRunAt: plan.nextRunAt, unfired: plan.unfired, fire: null, outbox: null, keepsMessage: false };
  if (!plan.fire) return claim;
  const decided = decideFire(plan.fire, activity);
  switch (decided.kind) {
    case 'record':
      return { ...claim, fire: decided.fire };
    case 'dispatch':
      return {
        ...claim,
        fire: decided.fire,
        outbox: outboxRow(decided.fire, decided.outboxAvailableAt, null),
        keepsMessage: keepsMessageUntilReleased(decided),
      };
    case 'skip':
      return { ...claim, unfired: [...plan.unfired, decided.run] };
  }
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
   * number: their fires and outbox entries, their unfired runs, and the schedules' advance as one UPDATE.
   */
  async writeClaims(em: EntityManager, claims: DecidedClaim[]): Promise<void> {
    await this.db.bulk.insert(em, 'outbox', await this.writeFires(em, claims));
    await this.db.bulk.insert(em, 'runs', claims.flatMap((c) => c.unfired).map(toRunRow));
    await this.db.bulk.advanceSchedules(
      em,
      claims.map((c) => ({ id: c.scheduleId, nextRunAt: c.nextRunAt, lastRunAt: c.fire?.firedAt ?? null })),
    );
  }

  /** One claim in its own savepoint; if its fire is refused, a failed run takes its place. */
  async writeClaimAlone(em: EntityManager, claim: DecidedClaim): Promise<ClaimOutcome> {
    try {
      await em.transaction((sp) => this.writeClaims(sp, [claim]));
      return { scheduleId: claim.scheduleId, status: 'fired' };
    } catch (error) {
      const message = (error as Error).message;
      await this.recordFailedClaim(em, claim, message);
      return { scheduleId: claim.scheduleId, status: 'failed', error: message };
    }
  }

  /** The session with this id as stored, read in the transaction; null when there is none. */
  async readSession(em: EntityManager, sessionId: string): Promise<Session | null> {
    const rows = Array.from((await em.query(this.db.queries.byId, [sessionId])) as RawSessionRow[]);
    return rows.length > 0 ? sessionFromRaw(this.db.dialect, rows[0]) : null;
  }

  /**
   * Appends a stateful fire's message to its session (appendMessage), returning the session as
   * stored afterwards (recordFire's answer): from the UPDATE itself where the engine returns its
   * rows, else read in the same transaction. Null, writing nothing, when the session does not exist yet.
   */
  async appendMessageAndRead(em: EntityManager, fire: FireWrite): Promise<Session | null> {
    if (!this.db.dialect.updateReturnsRows) {
      if (!(await this.appendMessage(em, fire))) return null;
      return this.readSession(em, fire.session.id);
    }
    const result = await em.queryRunner!.query(this.db.dialect.appendContextMessage(SESSION_COLUMNS), this.appendParams(fire), true);
    const rows = Array.from(result.records as RawSessionRow[]);
    return rows.length > 0 ? sessionFromRaw(this.db.dialect, rows[0]) : null;
  }

  /**
   * Writes the sessions and runs of the claims' fires as multi-row inserts. Stateful fires whose
   * session exists append to it instead, row by row (a schedule has at most one fire in a batch),
   * except those that wait: their message goes with their outbox entry. Returns the claims'
   * outbox entries, to insert.
   */
  private async writeFires(em: EntityManager, claims: DecidedClaim[]): Promise<OutboxRow[]> {
    const inserts: SessionRow[] = [];
    const entries: OutboxRow[] = [];
    const fires: FireWrite[] = [];
    for (const { fire, outbox, keepsMessage } of claims) {
      if (!fire) continue;
      fires.push(fire);
      let kept = false;
      if (!fire.stateful) inserts.push(toSessionRow(fire.session));
      else if (keepsMessage) kept = (await this.readSession(em, fire.session.id)) !== null;
      else if (!(await this.appendMessage(em, fire))) inserts.push(toSessionRow(fire.session));
      if (keepsMessage && !kept) inserts.push(toSessionRow(fire.session));
      if (outbox) entries.push({ ...outbox, pending_message: kept ? JSON.stringify(fire.message) : null });
    }
    await this.db.bulk.insert(em, 'sessions', inserts);
    await this.db.bulk.insert(em, 'runs', fires.map((f) => toRunRow(f.run)));
    return entries;
  }

  /** A claim whose fire could not be written: record the failure and still move on to the next fire time. */
  private async recordFailedClaim(em: EntityManager, claim: DecidedClaim, error: string): Promise<void> {
    const failed = claim.fire ? [failedFireRun(claim.fire.run, error)] : [];
    try {
      await em.transaction((sp) =>
        this.writeClaims(sp, [{ ...claim, fire: null, outbox: null, keepsMessage: false, unfired: [...failed, ...claim.unfired] }]),
      );
    } catch {
      // Even the failure cannot be recorded (say, the run already exists): at least do not retry it every tick.
      await this.db.schedules(em).update({ id: claim.scheduleId }, { next_run_at: claim.nextRunAt });
    }
  }

  /**
   * Appends a stateful fire's message to its session in one statement (the document never leaves
   * the database; the bound applies); false, writing nothing, when the session does not exist yet.
   */
  private async appendMessage(em: EntityManager, fire: FireWrite): Promise<boolean> {
    const result = await em.queryRunner!.query(this.db.dialect.appendContextMessage(), this.appendParams(fire), true);
    return (result.affected ?? 0) > 0;
  }

  private appendParams(fire: FireWrite): unknown[] {
    const { options, dialect } = this.db;
    return [JSON.stringify(fire.message), options.statefulSessionMaxMessages, dialect.param(fire.firedAt), fire.session.id, options.statefulSessionMaxBytes];
  }
}
