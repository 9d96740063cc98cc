import { isDeepStrictEqual } from 'node:util';
import { Injectable, Optional } from '@nestjs/common';
import { Metrics } from '../metrics/metrics.js';
import { v7 as uuidv7 } from 'uuid';
import { Clock } from '../common/clock.js';
import {
  IllegalRunTransition,
  RunNotFound,
  ScheduleDisabled,
  ScheduleLimitReached,
  ScheduleNotFound,
  ScheduleVersionMismatch,
  ValidationFailed,
} from '../common/domain-errors.js';
import { LimitsConfig } from '../config/app-config.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { Run, RunOverrides, RunWithAttempts } from '../domain/run.js';
import type { Page, PageRequest } from '../common/page.js';
import { HistoryStorage } from '../storage/ports/history.storage.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { FiringStorage } from '../storage/ports/firing.storage.js';
import { type BackfillResponse, MAX_BACKFILL_SLOTS } from './dto/backfill.dto.js';
import { ScheduleStorage } from '../storage/ports/schedule.storage.js';
import { fireIntervalProblem, nextFireAfter, upcomingFires } from '../firing/cron.js';
import { SchedulerWakeUp } from '../firing/scheduler-wake-up.js';
import type { ChatModelConfigDto } from '../wire/chat-model-config.dto.js';
import type { CreateScheduleDto } from './dto/create-schedule.dto.js';
import type { UpdateScheduleDto } from './dto/update-schedule.dto.js';
import {
  type ChatModelConfig,
  DEFAULT_CATCHUP_WINDOW_SECONDS,
  DEFAULT_OVERLAP_POLICY,
  DEFAULT_RUN_TIMEOUT_SECONDS,
  MAX_RUNS_REACHED,
  maxRunsReached,
  type Schedule,
  type ScheduleFilter,
  scheduleMatches,
  MAX_PENDING_SKIPS,
} from '../domain/schedule.js';
import { type BulkAction, type BulkActionDto, MAX_BULK_SCHEDULES } from './dto/bulk-action.dto.js';
import { type Budget, hasLimit } from '../domain/budget.js';
import { budgetBlocksUntil, EMPTY_STATS } from '../domain/schedule-stats.js';
import type { BudgetDto } from '../wire/budget.dto.js';

@Injectable()
export class SchedulesService {
  constructor(
    private readonly schedules: ScheduleStorage,
    private readonly history: HistoryStorage,
    private readonly delivery: DeliveryStorage,
    private readonly firing: FiringStorage,
    private readonly sessions: SessionsService,
    private readonly clock: Clock,
    private readonly limits: LimitsConfig,
    private readonly wakeUp: SchedulerWakeUp,
    @Optional() private readonly metrics: Metrics = Metrics.none,
  ) {}

  /** The user's schedules that pass the filter, newest first: all of them, or one page. */
  list(userId: string, filter: Omit<ScheduleFilter, 'now'>, page: PageRequest | null): Promise<Page<Schedule>> {
    return this.schedules.listSchedules(userId, { ...filter, now: this.clock.now() }, page);
  }

  async get(userId: string, scheduleId: string): Promise<Schedule> {
    const schedule = await this.schedules.getSchedule(userId, scheduleId);
    if (!schedule) throw new ScheduleNotFound(scheduleId);
    return schedule;
  }

  async create(userId: string, dto: CreateScheduleDto): Promise<Schedule> {
    const now = this.clock.now();
    const schedule = newSchedule(userId, dto, now, this.limits);
    const { maxSchedulesPerUser } = this.limits;
    if (!(await this.schedules.createSchedule(schedule, maxSchedulesPerUser))) throw new ScheduleLimitReached(maxSchedulesPerUser);
    await this.wakeUp.nextRunSet(schedule.nextRunAt);
    return schedule;
  }

  /**
   * PUT /schedule/by-key/{key}: creates the user's schedule with this key from `dto`, or replaces
   * the one there is (every field as `dto` says, omitted ones at their defaults; what the service
   * keeps, such as stats, fire count and history, stays). A body that changes nothing writes
   * nothing (the version stays). With `expectedVersions` (If-Match), only over one of them.
   */
  async put(
    userId: string,
    key: string,
    dto: CreateScheduleDto,
    expectedVersions?: readonly number[],
  ): Promise<{ schedule: Schedule; created: boolean }> {
    const now = this.clock.now();
    const { maxSchedulesPerUser } = this.limits;
    const outcome = await this.schedules.putScheduleByKey(
      userId,
      key,
      (current) => (current ? replacedSchedule(current, dto, now, this.limits) : { ...newSchedule(userId, dto, now, this.limits), key }),
      { expectedVersion: expectedVersions, maxPerUser: maxSchedulesPerUser },
    );
    switch (outcome.status) {
      case 'created':
      case 'replaced':
      case 'unchanged':
        if (outcome.status !== 'unchanged') await this.wakeUp.nextRunSet(outcome.schedule.nextRunAt);
        return { schedule: outcome.schedule, created: outcome.status === 'created' };
      case 'limit-reached':
        throw new ScheduleLimitReached(maxSchedulesPerUser);
      case 'version-mismatch':
        throw new ScheduleVersionMismatch(`by-key/${key}`, outcome.storedVersion);
    }
  }

  /**
   * Applies the fields present in `dto` to the schedule as stored at the moment of the write (see
   * ScheduleStorage.updateSchedule), so concurrent updates lose no field the other did not send. The
   * merged record is validated before anything is written. A change to when it fires (cron, time
   * zone, window, enabled) reschedules it from now. With `expectedVersions` (If-Match), the update
   * happens only if the stored version is one of them; otherwise ScheduleVersionMismatch.
   */
  async update(
    userId: string,
    scheduleId: string,
    dto: UpdateScheduleDto,
    expectedVersions?: readonly number[],
  ): Promise<Schedule> {
    const now = this.clock.now();
    let pausedByUser = false;
    const outcome = await this.schedules.updateSchedule(
      userId,
      scheduleId,
      (current) => {
        const next = applyUpdate(current, dto, now, this.limits);
        pausedByUser = current.enabled && !next.enabled && next.pausedReason === 'user';
        return next;
      },
      expectedVersions,
    );
    switch (outcome.status) {
      case 'updated':
        if (pausedByUser) this.metrics.recordPause('user');
        await this.wakeUp.nextRunSet(outcome.schedule.nextRunAt);
        return outcome.schedule;
      case 'not-found':
        throw new ScheduleNotFound(scheduleId);
      case 'version-mismatch':
        throw new ScheduleVersionMismatch(scheduleId, outcome.storedVersion);
    }
  }

  /**
   * POST /schedule/bulk: the action on each of the user's schedules the selectors match (every one
   * given; at least one), each schedule on its own, atomically, as the single routes do it. At most
   * MAX_BULK_SCHEDULES match, else ValidationFailed naming how many did (nothing is changed).
   */
  async bulk(userId: string, dto: BulkActionDto): Promise<{ matched: number; changed: number }> {
    if (dto.ids === undefined && dto.labels === undefined && dto.agent_id === undefined) {
      throw new ValidationFailed([{ field: 'ids', message: 'give at least one selector: ids, labels or agent_id' }]);
    }
    const matched = await this.bulkTargets(userId, dto);
    let changed = 0;
    for (const schedule of matched) {
      if (await this.bulkApply(userId, schedule, dto.action)) changed++;
    }
    return { matched: matched.length, changed };
  }

  private async bulkTargets(userId: string, dto: BulkActionDto): Promise<Schedule[]> {
    const filter: ScheduleFilter = {
      agentId: dto.agent_id,
      labels: dto.labels && Object.entries(dto.labels).map(([key, value]) => ({ key, value })),
      now: this.clock.now(),
    };
    const tooMany = (count: number) =>
      new ValidationFailed([{ field: 'ids', message: `the selectors match ${count} schedules; one call acts on at most ${MAX_BULK_SCHEDULES}` }]);
    if (dto.ids !== undefined) {
      const found = await Promise.all([...new Set(dto.ids)].map((id) => this.schedules.getSchedule(userId, id)));
      return found.filter((s): s is Schedule => s !== null && scheduleMatches(s, filter));
    }
    const page = await this.schedules.listSchedules(userId, filter, { limit: MAX_BULK_SCHEDULES });
    if (page.total > MAX_BULK_SCHEDULES) throw tooMany(page.total);
    return page.items;
  }

  /** The action on one schedule, as its single route does it; whether it changed anything. */
  private async bulkApply(userId: string, schedule: Schedule, action: BulkAction): Promise<boolean> {
    try {
      if (action === 'delete') {
        await this.delete(userId, schedule.id);
        return true;
      }
      const enabled = action === 'resume';
      if (schedule.enabled === enabled) return false;
      const updated = await this.update(userId, schedule.id, { enabled });
      return updated.enabled === enabled;
    } catch (error) {
      // Deleted meanwhile: nothing to change.
      if (error instanceof ScheduleNotFound) return false;
      throw error;
    }
  }

  async delete(userId: string, scheduleId: string): Promise<void> {
    if (!(await this.schedules.deleteSchedule(userId, scheduleId))) throw new ScheduleNotFound(scheduleId);
  }

  /**
   * Fires the schedule once now, whatever its cron says, subject to its overlap policy:
   * ScheduleBusy when the policy refuses the fire (nothing is written).
   */
  async runNow(userId: string, scheduleId: string, overrides: RunOverrides | null = null): Promise<{ sessionId: string; run: Run }> {
    const schedule = await this.get(userId, scheduleId);
    if (!schedule.enabled) throw new ScheduleDisabled(scheduleId);
    return this.sessions.fire(schedule, this.clock.now(), { overrides });
  }

  /**
   * Fires again what one of the schedule's runs fired: its overrides on the schedule as it is now,
   * as a new run (`replay`, `replayOf` the original), under the overlap policy and the budget as a
   * manual run is. RunNotFound when the schedule has no such run.
   */
  async replay(userId: string, scheduleId: string, runId: string): Promise<{ sessionId: string; run: Run }> {
    const schedule = await this.get(userId, scheduleId);
    const original = await this.getRun(userId, scheduleId, runId);
    if (!schedule.enabled) throw new ScheduleDisabled(scheduleId);
    return this.sessions.fire(schedule, this.clock.now(), { overrides: original.run.overrides, replayOf: original.run.id });
  }

  /** One run of the user's schedule, with its delivery attempts; RunNotFound when there is none. */
  async getRun(userId: string, scheduleId: string, runId: string): Promise<RunWithAttempts> {
    const found = await this.history.getRun(userId, scheduleId, runId);
    if (!found) throw new RunNotFound(runId);
    return found;
  }

  /**
   * Cancels one of the schedule's runs (DeliveryStorage.cancelRun): RunNotFound when it has no
   * such run, IllegalRunTransition (409) when the run has a final status already.
   */
  async cancelRun(userId: string, scheduleId: string, runId: string): Promise<Run> {
    const outcome = await this.delivery.cancelRun(userId, scheduleId, runId, this.clock.now());
    if (outcome.status === 'not-found') throw new RunNotFound(runId);
    if (outcome.status === 'final') throw new IllegalRunTransition(runId, outcome.run.status, 'cancelled');
    return outcome.run;
  }

  /**
   * Fires each of the schedule's past fire times in [from, to] that has no run yet, oldest first,
   * as `backfill` runs for them (SessionsService.backfill: the overlap policy does not apply, the
   * budget does); with `dryRun`, lists them and writes nothing. Only times before now and before the
   * schedule's next planned fire count (those are the scheduler's). More than MAX_BACKFILL_SLOTS in
   * the range is ValidationFailed naming how many. Called again, it fires nothing twice.
   */
  async backfill(userId: string, scheduleId: string, from: Date, to: Date, dryRun: boolean): Promise<BackfillResponse> {
    const schedule = await this.get(userId, scheduleId);
    const now = this.clock.now();
    if (from > to) throw new ValidationFailed([{ field: 'to', message: 'to must not be before from' }]);
    const end = Math.min(to.getTime(), now.getTime() - 1, (schedule.nextRunAt ?? now).getTime() - 1);
    // A disabled schedule has fire times all the same: the ones it would have had.
    const timing = { ...schedule, enabled: true };
    const slots: Date[] = [];
    const COUNT_AT_MOST = 100_000;
    for (let at = nextFireAfter(timing, new Date(from.getTime() - 1)); at && at.getTime() <= end && slots.length < COUNT_AT_MOST; at = nextFireAfter(timing, at)) slots.push(at);
    if (slots.length > MAX_BACKFILL_SLOTS) {
      const count = slots.length >= COUNT_AT_MOST ? `more than ${COUNT_AT_MOST}` : String(slots.length);
      throw new ValidationFailed([{ field: 'from', message: `[from, to] holds ${count} past fire times; one backfill fires at most ${MAX_BACKFILL_SLOTS}` }]);
    }
    const taken = await this.firing.takenFireTimes(userId, scheduleId, slots);
    const open = slots.filter((at) => !taken.has(at.getTime()));
    if (dryRun) return { dry_run: true, slots: open.map((at) => ({ scheduled_for: at.toISOString(), outcome: 'would_fire', run_id: null })), fired: 0 };
    const done: BackfillResponse['slots'] = [];
    for (const slot of open) {
      const outcome = await this.sessions.backfill(schedule, this.clock.now(), slot);
      done.push({
        scheduled_for: slot.toISOString(),
        outcome: outcome.status === 'budget-exhausted' ? 'budget_exhausted' : outcome.status,
        run_id: outcome.status === 'fired' ? outcome.run.id : null,
      });
    }
    return { dry_run: false, slots: done, fired: done.filter((s) => s.outcome === 'fired').length };
  }

  /** The schedule's fire history, newest first: all of it, or one page. */
  async listRuns(userId: string, scheduleId: string, page: PageRequest | null): Promise<Page<Run>> {
    await this.get(userId, scheduleId);
    if (page) return this.history.pageRunsBySchedule(userId, scheduleId, page);
    const runs = await this.history.listRunsBySchedule(userId, scheduleId);
    return { items: runs, total: runs.length, next: null };
  }

  /**
   * Skips one upcoming fire time (one of the next 100 next-runs lists), or takes the skip back
   * (`skip` false): the fire time becomes a skipped run (skip_reason `user`) instead of firing. At
   * most MAX_PENDING_SKIPS pending; an unknown fire time is ValidationFailed.
   */
  async skip(userId: string, scheduleId: string, scheduledFor: Date, skip: boolean): Promise<Schedule> {
    const now = this.clock.now();
    const outcome = await this.schedules.updateSchedule(userId, scheduleId, (current) => {
      const others = current.skippedFireTimes.filter((d) => d.getTime() !== scheduledFor.getTime());
      if (!skip) return { ...current, skippedFireTimes: others, updatedAt: now };
      const upcoming = upcomingFires(current, now, 100);
      if (!upcoming.some((d) => d.getTime() === scheduledFor.getTime())) {
        throw new ValidationFailed([{ field: 'scheduled_for', message: 'scheduled_for must be one of the next 100 fire times (as next-runs lists them)' }]);
      }
      if (others.length >= MAX_PENDING_SKIPS) {
        throw new ValidationFailed([{ field: 'scheduled_for', message: `a schedule may have at most ${MAX_PENDING_SKIPS} skipped fire times pending` }]);
      }
      return { ...current, skippedFireTimes: [...others, scheduledFor].sort((a, b) => a.getTime() - b.getTime()), updatedAt: now };
    });
    if (outcome.status === 'not-found') throw new ScheduleNotFound(scheduleId);
    if (outcome.status !== 'updated') throw new Error('unreachable: no If-Match was given');
    return outcome.schedule;
  }

  /**
   * POST /schedule/preview: the first `count` fire times of a schedule that `dto` would create now,
   * validated as a create is (ValidationFailed), written nowhere. Before jitter: its offset comes
   * from the id the schedule does not have yet.
   */
  preview(userId: string, dto: CreateScheduleDto, count: number): { schedule: Schedule; fires: Date[] } {
    const now = this.clock.now();
    const schedule = { ...newSchedule(userId, dto, now, this.limits), jitterSeconds: 0 };
    return { schedule, fires: upcomingFires(schedule, now, count) };
  }

  /** The schedule's next `count` fire times from now. */
  async nextRuns(userId: string, scheduleId: string, count: number): Promise<{ schedule: Schedule; fires: Date[] }> {
    const schedule = await this.get(userId, scheduleId);
    return { schedule, fires: upcomingFires(schedule, this.clock.now(), count) };
  }
}

/** A new schedule of the user, as `dto` says at `now`, validated (ValidationFailed) and planned (`nextRunAt`). */
function newSchedule(userId: string, dto: CreateScheduleDto, now: Date, limits: LimitsConfig): Schedule {
  const schedule: Schedule = {
    id: uuidv7(),
    userId,
    agentId: dto.agent_id,
    name: dto.name,
    description: dto.description ?? '',
    enabled: dto.enabled ?? true,
    timezone: dto.timezone ?? 'UTC',
    ...whenAfter(null, dto, now),
    jitterSeconds: dto.jitter_seconds ?? 0,
    startedAt: toInstant(dto.started_at),
    endedAt: toInstant(dto.ended_at),
    chatModelConfig: toChatModelConfig(dto.chat_model_config),
    stateful: dto.stateful ?? false,
    permissionMode: dto.permission_mode ?? 'dont_ask',
    source: 'USER',
    sourceSessionId: null,
    catchupWindowSeconds: dto.catchup_window_seconds ?? DEFAULT_CATCHUP_WINDOW_SECONDS,
    overlapPolicy: dto.overlap_policy ?? DEFAULT_OVERLAP_POLICY,
    runTimeoutSeconds: dto.run_timeout_seconds ?? DEFAULT_RUN_TIMEOUT_SECONDS,
    historyLimit: dto.history_limit ?? null,
    nextRunAt: null,
    lastRunAt: null,
    pausedReason: dto.enabled === false ? 'user' : null,
    pauseNote: dto.enabled === false ? (dto.pause_note ?? null) : null,
    pauseAfterFailures: dto.pause_after_failures ?? null,
    consecutiveFailures: 0,
    maxRuns: dto.max_runs ?? null,
    fireCount: 0,
    budget: toBudget(dto.budget),
    budgetExhaustedUntil: null,
    stats: { ...EMPTY_STATS },
    labels: dto.labels ?? {},
    key: null,
    skippedFireTimes: [],
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  assertValidWindow(schedule);
  assertValidOverlapPolicy(schedule);
  assertPauseNoteOnPause(schedule, dto);
  assertFireInterval(schedule, limits.minFireIntervalSeconds, now);
  assertOneOffAhead(schedule, now);
  schedule.nextRunAt = nextFireAfter(schedule, now);
  return schedule;
}

/**
 * The record a PUT makes of `current`: every field `dto` has (omitted ones at their create
 * defaults, so a PUT is a PATCH of all of them); `current` itself when that changes nothing.
 */
function replacedSchedule(current: Schedule, dto: CreateScheduleDto, now: Date, limits: LimitsConfig): Schedule {
  const whole: UpdateScheduleDto = {
    description: '',
    enabled: true,
    timezone: 'UTC',
    started_at: null,
    ended_at: null,
    stateful: false,
    permission_mode: 'dont_ask',
    catchup_window_seconds: DEFAULT_CATCHUP_WINDOW_SECONDS,
    overlap_policy: DEFAULT_OVERLAP_POLICY,
    run_timeout_seconds: DEFAULT_RUN_TIMEOUT_SECONDS,
    history_limit: null,
    pause_after_failures: null,
    max_runs: null,
    budget: null,
    labels: {},
    pause_note: null,
    cron_expression: null,
    at: null,
    every_seconds: null,
    jitter_seconds: 0,
    // The fields the body has (a DTO instance may carry the others as undefined).
    ...Object.fromEntries(Object.entries(dto).filter(([, value]) => value !== undefined)),
  };
  // Enabled as it is: not a resume (which would clear a pause's reason, note and failure count).
  if (whole.enabled === current.enabled) delete (whole as { enabled?: boolean }).enabled;
  const next = applyUpdate(current, whole, now, limits);
  return isDeepStrictEqual({ ...next, updatedAt: current.updatedAt }, current) ? current : next;
}

/** The record `dto` makes of `current` at `now`; throws ValidationFailed if it is not a valid schedule. */
function applyUpdate(current: Schedule, dto: UpdateScheduleDto, now: Date, limits: LimitsConfig): Schedule {
  const next: Schedule = {
    ...current,
    agentId: dto.agent_id ?? current.agentId,
    name: dto.name ?? current.name,
    description: dto.description ?? current.description,
    enabled: dto.enabled ?? current.enabled,
    timezone: dto.timezone ?? current.timezone,
    ...whenAfter(current, dto, now),
    jitterSeconds: dto.jitter_seconds ?? current.jitterSeconds,
    startedAt: dto.started_at === undefined ? current.startedAt : toInstant(dto.started_at),
    endedAt: dto.ended_at === undefined ? current.endedAt : toInstant(dto.ended_at),
    chatModelConfig: dto.chat_model_config ? toChatModelConfig(dto.chat_model_config) : current.chatModelConfig,
    stateful: dto.stateful ?? current.stateful,
    permissionMode: dto.permission_mode ?? current.permissionMode,
    catchupWindowSeconds: dto.catchup_window_seconds ?? current.catchupWindowSeconds,
    overlapPolicy: dto.overlap_policy ?? current.overlapPolicy,
    runTimeoutSeconds: dto.run_timeout_seconds ?? current.runTimeoutSeconds,
    historyLimit: dto.history_limit === undefined ? current.historyLimit : dto.history_limit,
    pauseAfterFailures: dto.pause_after_failures === undefined ? current.pauseAfterFailures : dto.pause_after_failures,
    maxRuns: dto.max_runs === undefined ? current.maxRuns : dto.max_runs,
    labels: dto.labels ?? current.labels,
    ...budgetAfterUpdate(current, dto, now),
    ...pauseAfterUpdate(current, dto),
    updatedAt: now,
  };
  // Done already: max_runs lowered to the fires so far (or enabled again without raising it).
  if (next.enabled && maxRunsReached(next)) Object.assign(next, MAX_RUNS_REACHED);
  assertValidWindow(next);
  assertValidOverlapPolicy(next);
  assertPauseNoteOnPause(next, dto);
  // Only a new cron, interval or time zone is checked: a schedule kept from before a stricter limit still saves.
  if (next.cronExpression !== current.cronExpression || next.everySeconds !== current.everySeconds || next.timezone !== current.timezone) {
    assertFireInterval(next, limits.minFireIntervalSeconds, now);
  }
  // A one-off set anew, or enabled again, must still be ahead.
  if (next.fireAt?.getTime() !== current.fireAt?.getTime() || (next.enabled && !current.enabled)) assertOneOffAhead(next, now);
  if (firesDifferently(current, next)) {
    next.nextRunAt = nextFireAfter(next, now);
    // Other fire times now: the skips were of the old ones.
    next.skippedFireTimes = [];
  }
  return next;
}

/**
 * The budget fields a PATCH leaves. A new budget over the same period keeps the period's use so
 * far (a budget is not escaped by rewriting it); over another period, or removed, the use starts
 * afresh. The exhaustion mark follows the new limits at once.
 */
function budgetAfterUpdate(current: Schedule, dto: UpdateScheduleDto, now: Date): Pick<Schedule, 'budget' | 'budgetExhaustedUntil' | 'stats'> {
  const budget = dto.budget === undefined ? current.budget : toBudget(dto.budget);
  if (isDeepStrictEqual(budget, current.budget)) return { budget: current.budget, budgetExhaustedUntil: current.budgetExhaustedUntil, stats: current.stats };
  const samePeriod = budget !== null && current.budget?.period === budget.period;
  const stats = { ...current.stats, period: samePeriod ? current.stats.period : null };
  const kept = { budget, timezone: current.timezone, stats, budgetExhaustedUntil: null };
  return { budget, stats, budgetExhaustedUntil: budget ? budgetBlocksUntil(kept, now) : null };
}

/** A budget as the wire has it (validated by BudgetDto); one without any limit is refused. */
function toBudget(dto: BudgetDto | null | undefined): Budget | null {
  if (!dto) return null;
  const budget: Budget = { period: dto.period, maxRuns: dto.max_runs ?? null, maxTokens: dto.max_tokens ?? null, maxCostUsd: dto.max_cost_usd ?? null };
  if (!hasLimit(budget)) throw new ValidationFailed([{ field: 'budget', message: 'budget must set at least one of max_runs, max_tokens, max_cost_usd' }]);
  return budget;
}

/**
 * The pause fields a PATCH leaves: `enabled: true` clears the reason, the note and the failure
 * count; `enabled: false` makes it the user's pause (with its note, if given); `pause_note` alone
 * rewrites the note of a pause.
 */
function pauseAfterUpdate(current: Schedule, dto: UpdateScheduleDto): Pick<Schedule, 'pausedReason' | 'pauseNote' | 'consecutiveFailures'> {
  if (dto.enabled === true) return { pausedReason: null, pauseNote: null, consecutiveFailures: 0 };
  const note = dto.pause_note === undefined ? current.pauseNote : dto.pause_note;
  if (dto.enabled === false) return { pausedReason: 'user', pauseNote: note, consecutiveFailures: current.consecutiveFailures };
  return { pausedReason: current.pausedReason, pauseNote: note, consecutiveFailures: current.consecutiveFailures };
}

/** A pause note belongs to a pause: given for a schedule that ends up enabled, it is refused. */
function assertPauseNoteOnPause(schedule: Schedule, dto: CreateScheduleDto | UpdateScheduleDto): void {
  if (schedule.enabled && dto.pause_note != null) {
    throw new ValidationFailed([{ field: 'pause_note', message: 'pause_note is given with enabled: false, or while the schedule is disabled' }]);
  }
}

function firesDifferently(a: Schedule, b: Schedule): boolean {
  return (
    a.cronExpression !== b.cronExpression ||
    a.fireAt?.getTime() !== b.fireAt?.getTime() ||
    a.everySeconds !== b.everySeconds ||
    a.anchorAt?.getTime() !== b.anchorAt?.getTime() ||
    a.jitterSeconds !== b.jitterSeconds ||
    a.timezone !== b.timezone ||
    a.enabled !== b.enabled ||
    a.startedAt?.getTime() !== b.startedAt?.getTime() ||
    a.endedAt?.getTime() !== b.endedAt?.getTime()
  );
}

function toChatModelConfig(dto: ChatModelConfigDto): ChatModelConfig {
  return { type: dto.type, credential_id: dto.credential_id, model: dto.model, parameters: dto.parameters ?? {} };
}

function toInstant(value: string | null | undefined): Date | null {
  return value == null ? null : new Date(value);
}

/** The cron expression (read in the schedule's time zone) or the interval must leave `minSeconds` between two fires (MIN_FIRE_INTERVAL_SECONDS). */
function assertFireInterval(schedule: Schedule, minSeconds: number, now: Date): void {
  if (schedule.everySeconds !== null && schedule.everySeconds < minSeconds) {
    throw new ValidationFailed([{ field: 'every_seconds', message: `every_seconds must be at least ${minSeconds}: at least that must pass between two fires` }]);
  }
  if (schedule.cronExpression === null) return;
  const problem = fireIntervalProblem(schedule.cronExpression, schedule.timezone, minSeconds, now);
  if (problem) throw new ValidationFailed([{ field: 'cron_expression', message: `cron_expression ${problem}` }]);
}

/** A one-off that fires must be ahead of `now` (one in the past would never fire). */
function assertOneOffAhead(schedule: Schedule, now: Date): void {
  if (schedule.enabled && schedule.fireAt !== null && schedule.fireAt <= now) {
    throw new ValidationFailed([{ field: 'at', message: 'at must be in the future' }]);
  }
}

/**
 * When the schedule fires after `dto`: exactly one kind (a cron expression, a one-off instant, an
 * interval from an anchor). A kind given replaces the others; none given keeps `current`'s (on
 * create, one is required); clearing the current kind without giving another is refused.
 */
function whenAfter(
  current: Schedule | null,
  dto: CreateScheduleDto | UpdateScheduleDto,
  now: Date,
): Pick<Schedule, 'cronExpression' | 'fireAt' | 'everySeconds' | 'anchorAt'> {
  const fail = (field: string, message: string) => new ValidationFailed([{ field, message }]);
  const given = (['cron_expression', 'at', 'every_seconds'] as const).filter((field) => dto[field] != null);
  if (given.length > 1) throw fail(given[1], `give one of cron_expression, at or every_seconds, not ${given.join(' and ')}`);
  const kind = given[0] ?? (current ? kindOf(current) : null);
  const cleared = current !== null && given.length === 0 && dto[kindOf(current)] === null;
  if (kind === null || cleared) throw fail('cron_expression', 'give one of cron_expression, at or every_seconds: when the schedule fires');
  if (dto.anchor_at != null && kind !== 'every_seconds') throw fail('anchor_at', 'anchor_at goes with every_seconds');
  const none = { cronExpression: null, fireAt: null, everySeconds: null, anchorAt: null };
  switch (kind) {
    case 'cron_expression':
      return { ...none, cronExpression: dto.cron_expression ?? current!.cronExpression };
    case 'at':
      return { ...none, fireAt: dto.at ? new Date(dto.at) : current!.fireAt };
    case 'every_seconds': {
      const wasInterval = current?.everySeconds != null && current.anchorAt !== null;
      const anchorAt = dto.anchor_at ? new Date(dto.anchor_at) : wasInterval ? current.anchorAt : now;
      return { ...none, everySeconds: dto.every_seconds ?? current!.everySeconds, anchorAt };
    }
  }
}

/** The wire field of the schedule's kind. */
function kindOf(schedule: Schedule): 'cron_expression' | 'at' | 'every_seconds' {
  if (schedule.fireAt !== null) return 'at';
  return schedule.everySeconds !== null ? 'every_seconds' : 'cron_expression';
}

/** The runs of a stateful schedule share one session: two of them at once would interleave in it. */
function assertValidOverlapPolicy(schedule: Schedule): void {
  if (schedule.stateful && schedule.overlapPolicy === 'allow') {
    throw new ValidationFailed([
      { field: 'overlap_policy', message: 'overlap_policy allow cannot be used with a stateful schedule: its runs share one session' },
    ]);
  }
}

function assertValidWindow(schedule: Schedule): void {
  if (schedule.startedAt && schedule.endedAt && schedule.endedAt <= schedule.startedAt) {
    throw new ValidationFailed([{ field: 'ended_at', message: 'ended_at must be after started_at' }]);
  }
}
