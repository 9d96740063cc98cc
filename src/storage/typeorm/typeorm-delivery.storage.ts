import type { ClaimedDelivery, DeliveryRecord } from '../../domain/delivery.js';
import { jsonTextBytes, keepNewestWithin, timeoutAfter } from '../../domain/fire.js';
import {
  CANCELLED_ERROR,
  isActiveRunStatus,
  isFinalRunStatus,
  type Run,
  type RunUsage,
  type RuntimeRunStatus,
  runTransition,
} from '../../domain/run.js';
import type { ClaimedScheduleEvent, ScheduleEventResult } from '../../domain/schedule-event.js';
import type { Session, SessionState } from '../../domain/session.js';
import { DeliveryStorage, type OutboxBacklog, type RunCancelOutcome, type RunReportOutcome } from '../ports/delivery.storage.js';
import type { RunEnding } from './dispatch-sql.js';
import {
  type RawRunRow,
  type RawScheduleRow,
  type RawSessionRow,
  runFromRaw,
  scheduleFromRaw,
  sessionFromRawRow,
  toDispatchAttemptRow,
  toRun,
  toSession,
} from './entities/row.mapper.js';
import type { SessionRow } from './entities/session.entity.js';
import { type RawScheduleEventRow, scheduleEventFromRaw } from './event-rows.js';
import { type TypeOrmContext, writable } from './typeorm-context.js';

export class TypeOrmDeliveryStorage extends DeliveryStorage {
  constructor(private readonly db: TypeOrmContext) {
    super();
  }

  async claimDeliveries(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    const { dispatch, dialect } = this.db;
    return this.db.transaction(async (em) => {
      // Locked (SKIP LOCKED) until the lease is written: concurrent claimers take other entries.
      // Raw reads: hydrating entities cost more than the queries.
      const due = await dispatch.dueOutbox(em, now, limit);
      if (due.length === 0) return [];
      const runRows = await dispatch.rowsByIds<RawRunRow>(em, 'runs', due.map((d) => d.runId));
      const runs = new Map(runRows.map((row) => [row.id as string, runFromRaw(dialect, row)]));
      const scheduleIds = [...runs.values()].map((r) => r.scheduleId);
      const scheduleRows = await dispatch.rowsByIds<RawScheduleRow>(em, 'schedules', scheduleIds);
      const schedules = new Map(scheduleRows.map((row) => [row.id as string, scheduleFromRaw(dialect, row)]));
      const deliverable = due.filter((d) => {
        const run = runs.get(d.runId);
        return run !== undefined && isActiveRunStatus(run.status) && schedules.has(run.scheduleId);
      });
      const deliverableIds = new Set(deliverable.map((d) => d.runId));
      await dispatch.deleteOutbox(em, due.filter((d) => !deliverableIds.has(d.runId)).map((d) => d.runId));
      await dispatch.leaseOutbox(em, [...deliverableIds], leaseUntil);
      const sessionRows = await dispatch.rowsByIds<RawSessionRow>(em, 'sessions', deliverable.flatMap((d) => runs.get(d.runId)!.sessionId ?? []));
      const apart = await this.db.context.textsOf(em, sessionRows.filter((s) => s.context_apart).map((s) => s.id as string));
      const sessions = new Map(sessionRows.map((row) => [row.id as string, sessionFromRawRow(dialect, row, apart.get(row.id as string))]));
      return deliverable.map((d): ClaimedDelivery => {
        const run = runs.get(d.runId)!;
        return {
          run,
          schedule: schedules.get(run.scheduleId)!,
          session: (run.sessionId && sessions.get(run.sessionId)) || null,
          attemptsMade: d.attempts,
        };
      });
    });
  }

  async outboxBacklog(now: Date): Promise<OutboxBacklog> {
    const { dialect } = this.db;
    const p = dialect.placeholder;
    const rows = await this.db.dataSource.query(
      `SELECT count(*) AS n, min(available_at) AS oldest FROM outbox
        WHERE available_at <= ${p(1)} AND (lease_until IS NULL OR lease_until <= ${p(1)})`,
      [dialect.param(now)],
    );
    const { n, oldest } = rows[0] as { n: number | string; oldest: Date | string | null };
    return { count: Number(n), oldestAvailableAt: oldest == null ? null : dialect.timestampFromRaw(oldest) };
  }

  async recordDeliveryAttempts(records: readonly DeliveryRecord[], now: Date): Promise<void> {
    if (records.length === 0) return;
    const { dispatch, bulk } = this.db;
    await this.db.transaction(async (em, ready) => {
      const runs = new Map((await dispatch.runsByIds(em, records.map((r) => r.attempt.runId))).map((r) => [r.id, r]));
      // A run that is gone (its schedule deleted, or pruned) keeps no attempt; its entry goes too.
      await dispatch.deleteOutbox(em, records.filter((r) => !runs.has(r.attempt.runId)).map((r) => r.attempt.runId));
      const kept = records.filter((r) => runs.has(r.attempt.runId));
      await bulk.insert(em, 'dispatch_attempts', kept.map((r) => toDispatchAttemptRow(r.attempt)));
      // Endings first, holding their schedules (in id order, as every holder does) before any run
      // row is touched: a holder that waited on a run row this transaction held would deadlock.
      const endings = kept.flatMap(({ attempt, result }): RunEnding[] => {
        const scheduleId = runs.get(attempt.runId)!.scheduleId;
        if (result.outcome === 'completed') return [{ runId: attempt.runId, scheduleId, status: result.status, error: result.error, usage: result.usage }];
        if (result.outcome === 'gave-up') return [{ runId: attempt.runId, scheduleId, status: 'failed', error: result.error, usage: null, gaveUp: true }];
        return [];
      });
      if (endings.length > 0) {
        const held = await dispatch.holdSchedules(em, endings.map((e) => e.scheduleId), false);
        // Re-read under the schedules' locks: a run the runtime ended meanwhile keeps its status.
        const active = new Set((await dispatch.runsByIds(em, endings.map((e) => e.runId))).filter((r) => isActiveRunStatus(r.status)).map((r) => r.id));
        if ((await dispatch.endRuns(em, endings.filter((e) => active.has(e.runId)), held, now)) > 0) await ready();
        await dispatch.deleteOutbox(em, endings.filter((e) => !active.has(e.runId)).map((e) => e.runId));
      }
      const delivered = kept.filter((r) => r.result.outcome === 'delivered').map((r) => r.attempt.runId);
      // A run the runtime has already moved on (reported running, or ended) keeps its status.
      await dispatch.markDispatched(em, delivered);
      await dispatch.deleteOutbox(em, delivered);
      const retries = kept.flatMap(({ attempt, result }) => (result.outcome === 'retry' ? [{ runId: attempt.runId, at: result.nextAttemptAt }] : []));
      await dispatch.retryOutbox(em, retries);
    });
  }

  async reportRunStatus(runId: string, to: RuntimeRunStatus, error: string | null, now: Date, usage: RunUsage | null = null): Promise<RunReportOutcome> {
    const { dispatch } = this.db;
    return this.db.transaction(async (em, ready) => {
      const found = await this.db.runs(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId } });
      if (!found) return { status: 'not-found' };
      const held = await dispatch.holdSchedules(em, [found.schedule_id], false);
      // Re-read under the schedule's lock: the endings of its runs are serialised by it. (A schedule
      // that is gone took its runs with it.)
      const row = await this.db.runs(em).findOneBy({ id: runId });
      if (!row || held.length === 0) return { status: 'not-found' };
      const run = toRun(row);
      const transition = runTransition(run.status, to);
      if (transition === 'noop') return { status: 'unchanged', run };
      if (transition === 'illegal') return { status: 'illegal', run };
      const reported: Run = { ...run, status: to, error: to === 'failed' ? error : null };
      if (isFinalRunStatus(to)) {
        const ending = { runId, scheduleId: run.scheduleId, status: to, error: reported.error, usage };
        if ((await dispatch.endRuns(em, [ending], held, now)) > 0) await ready();
        return { status: 'applied', run: { ...reported, finishedAt: now, usage } };
      }
      // A run that was waiting has no timeout yet: it takes one now, so that it cannot stay active for ever.
      const timeoutAt = run.timeoutAt ?? timeoutAfter(now, held[0].runTimeoutSeconds);
      await this.db.runs(em).update({ id: runId }, { status: to, error: null, timeout_at: timeoutAt });
      // The runtime has the run: it is not delivered again; a message it kept (it was waiting) goes to its session.
      await dispatch.appendKeptMessages(em, 'run_id', [runId], now);
      await dispatch.deleteOutbox(em, [runId]);
      return { status: 'applied', run: { ...reported, timeoutAt } };
    });
  }

  async redriveRuns(userId: string, runIds: readonly string[], now: Date): Promise<Map<string, 'taken' | 'not-found' | 'not-given-up'>> {
    const outcomes = new Map<string, 'taken' | 'not-found' | 'not-given-up'>();
    for (const runId of new Set(runIds)) {
      outcomes.set(
        runId,
        await this.db.transaction(async (em, ready) => {
          const found = await this.db.runs(em).findOne({ select: { id: true, schedule_id: true }, where: { id: runId, user_id: userId } });
          if (!found) return 'not-found';
          const held = await this.db.dispatch.holdSchedules(em, [found.schedule_id], false);
          const row = await this.db.runs(em).findOneBy({ id: runId, user_id: userId });
          if (!row || held.length === 0) return 'not-found';
          if (row.status !== 'failed' || !row.gave_up) return 'not-given-up';
          const timeoutAt = timeoutAfter(now, held[0].runTimeoutSeconds);
          await this.db.runs(em).update({ id: runId }, { status: 'pending', error: null, finished_at: null, timeout_at: timeoutAt, gave_up: false });
          await this.db.bulk.insert(em, 'outbox', [
            { run_id: runId, schedule_id: found.schedule_id, available_at: now, attempts: 0, lease_until: null, pending_message: null },
          ]);
          await ready();
          return 'taken';
        }),
      );
    }
    return outcomes;
  }

  async cancelRun(userId: string, scheduleId: string, runId: string, now: Date): Promise<RunCancelOutcome> {
    const { dispatch } = this.db;
    return this.db.transaction(async (em, ready) => {
      const held = await dispatch.holdSchedules(em, [scheduleId], false);
      const row = await this.db.runs(em).findOneBy({ id: runId, user_id: userId, schedule_id: scheduleId });
      if (!row || held.length === 0) return { status: 'not-found' };
      const run = toRun(row);
      if (isFinalRunStatus(run.status)) return { status: 'final', run };
      if ((await dispatch.cancelRuns(em, [runId], held, now)) > 0) await ready();
      return { status: 'cancelled', run: { ...run, status: 'cancelled', error: CANCELLED_ERROR, finishedAt: now } };
    });
  }

  async putSessionState(sessionId: string, state: SessionState, now: Date): Promise<Session | null> {
    const { options } = this.db;
    return this.db.transaction(async (em) => {
      // A context kept apart (a stateful session) is replaced row by row; the rest of the state,
      // or the whole of another session's, is the document.
      if (await this.db.context.replace(em, sessionId, state.context, now)) {
        await this.db.sessions(em).update({ id: sessionId }, writable<SessionRow>({ state: { ...state, context: [] } }));
        const row = await this.db.sessions(em).findOneBy({ id: sessionId });
        const messages = (await this.db.context.textsOf(em, [sessionId])).get(sessionId) ?? [];
        return row ? toSession(row, messages.map((text) => JSON.parse(text))) : null;
      }
      const context = state.context.slice(-options.statefulSessionMaxMessages);
      const bounds = { maxMessages: options.statefulSessionMaxMessages, maxBytes: options.statefulSessionMaxBytes };
      keepNewestWithin(context, bounds, (message) => jsonTextBytes(JSON.stringify(message)));
      const result = await this.db.sessions(em).update({ id: sessionId }, writable<SessionRow>({ state: { ...state, context }, updated_at: now }));
      if ((result.affected ?? 0) === 0) return null;
      const row = await this.db.sessions(em).findOneBy({ id: sessionId });
      return row ? toSession(row) : null;
    });
  }

  async claimScheduleEvents(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedScheduleEvent[]> {
    const { dispatch, dialect } = this.db;
    const p = dialect.placeholder;
    return this.db.transaction(async (em) => {
      // Locked (SKIP LOCKED) until the lease is written, as the outbox's claim.
      // Array.from: the driver's arrays may come from another realm (SQLite's native module).
      const rows: RawScheduleEventRow[] = Array.from(await em.query(
        `SELECT * FROM schedule_events WHERE available_at <= ${p(1)} AND (lease_until IS NULL OR lease_until <= ${p(1)})
          ORDER BY available_at, id LIMIT ${p(2)}${dialect.lockClause(true)}`,
        [dialect.param(now), limit],
      ));
      if (rows.length === 0) return [];
      const scheduleRows = await dispatch.rowsByIds<RawScheduleRow>(em, 'schedules', rows.map((r) => r.schedule_id as string));
      const schedules = new Map(scheduleRows.map((row) => [row.id as string, scheduleFromRaw(dialect, row)]));
      const claimed = rows.filter((r) => schedules.has(r.schedule_id as string));
      const runRows = await dispatch.rowsByIds<RawRunRow>(em, 'runs', claimed.flatMap((r) => (r.run_id ? [r.run_id as string] : [])));
      const runs = new Map(runRows.map((row) => [row.id as string, runFromRaw(dialect, row)]));
      await dispatch.deleteWhereIn(em, 'schedule_events', 'id', rows.filter((r) => !schedules.has(r.schedule_id as string)).map((r) => r.id));
      await dispatch.leaseWhereIn(em, 'schedule_events', 'id', claimed.map((r) => r.id as string), leaseUntil);
      return claimed.map((row) => ({
        event: scheduleEventFromRaw(dialect, row),
        schedule: schedules.get(row.schedule_id as string)!,
        run: (row.run_id && runs.get(row.run_id as string)) || null,
        attemptsMade: Number(row.attempts),
      }));
    });
  }

  async recordScheduleEventAttempts(results: readonly ScheduleEventResult[]): Promise<void> {
    if (results.length === 0) return;
    const { dispatch } = this.db;
    await this.db.transaction(async (em) => {
      await dispatch.deleteWhereIn(em, 'schedule_events', 'id', results.filter((r) => r.outcome !== 'retry').map((r) => r.eventId));
      await dispatch.retryWhereIn(
        em,
        'schedule_events',
        'id',
        results.flatMap((r) => (r.outcome === 'retry' ? [{ id: r.eventId, at: r.nextAttemptAt }] : [])),
      );
    });
  }
}
