import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { StorageUnavailable } from '../common/domain-errors.js';
import { LOG_THROTTLE_INTERVAL_MS, LogThrottle, suppressedSuffix } from '../common/log-throttle.js';
import { SchedulerConfig } from '../config/app-config.js';
import { DispatchMode } from '../config/dispatch-mode.js';
import { nextFireAfter } from './cron.js';
import type { Schedule } from '../domain/schedule.js';
import { type DueFirePlan, unfiredRun } from '../domain/fire.js';
import { Metrics } from '../metrics/metrics.js';
import { FiringStorage } from '../storage/ports/firing.storage.js';
import { planDueFire } from './fire-planner.js';
import { SchedulerWakeUp } from './scheduler-wake-up.js';
import { sleepAfterTick } from './tick-delay.js';
import { SystemTimers, Timers } from './timers.js';

/**
 * How late past its tick a fire may be before the scheduler counts as behind: a fire is normally
 * up to one interval late (it waits for the next tick), plus the time its batch takes.
 */
export const BACKLOG_TOLERANCE_MS = 10_000;

/** Claims a tick keeps in flight unless SchedulerConfig.claimsInFlight says otherwise. */
export const DEFAULT_CLAIMS_IN_FLIGHT = 2;

/** Sessions and runs beyond the schedules' history limits deleted per batch (one batch per prune). */
export const PRUNE_BATCH_SIZE = 1000;

/**
 * How often the ticker prunes history when the last prune found nothing more to do: pruning scans
 * the history of every limited schedule, which is not worth doing every second.
 */
export const PRUNE_INTERVAL_MS = 10_000;

/**
 * Schedules rescheduled at start-up at most (see rescheduleUnplanned): rows without a next run are
 * rare (written before the scheduler kept one, or whose cron stopped parsing), and one pass over
 * this many keeps start-up short; any beyond it are rescheduled at the next start.
 */
export const MAX_RESCHEDULED_AT_START = 10_000;

/**
 * Fires due schedules: every tick it claims them from storage in batches until none is due.
 * The database is the coordination: any number of replicas tick against it, and each due fire
 * time happens once (see FiringStorage.claimDueSchedules). Between ticks it sleeps until the
 * earliest next run in storage, at most SCHEDULER_INTERVAL_MS (see sleepAfterTick), and a write
 * that announces an earlier one (SchedulerWakeUp, from this process or another replica) wakes
 * it sooner. A tick that fails (the database is down) is retried after SCHEDULER_INTERVAL_MS;
 * repeated failures and a scheduler that falls behind are logged at most once per
 * LOG_THROTTLE_INTERVAL_MS, with a count of the rest.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(SchedulerService.name);
  private readonly throttle: LogThrottle;
  private timer: unknown;
  /** When the timer will tick (by the clock), or null while a tick runs or before the first. */
  private plannedAt: number | null = null;
  /** The earliest next run announced while the tick in flight runs (see sleepAfterTick). */
  private announcedAt: number | null = null;
  /** The `now` of the last claim. */
  private lastClaimAt = 0;
  private stopListening: (() => void) | undefined;
  private inFlight: Promise<unknown> | null = null;
  private stopping = false;
  /** Ticks that failed in a row. */
  private failedTicks = 0;
  /** When history may be pruned next (see PRUNE_INTERVAL_MS); at once after a start. */
  private nextPruneAt = 0;

  constructor(
    private readonly storage: FiringStorage,
    private readonly clock: Clock,
    private readonly config: SchedulerConfig,
    private readonly dispatch: DispatchMode = new DispatchMode(false),
    @Optional() private readonly metrics: Metrics = Metrics.none,
    @Optional() @Inject(SchedulerWakeUp) private readonly wakeUp: SchedulerWakeUp | null = null,
    @Optional() private readonly timers: Timers = new SystemTimers(),
  ) {
    this.throttle = new LogThrottle(LOG_THROTTLE_INTERVAL_MS, () => this.clock.now().getTime());
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.enabled) return;
    // Start-up never fails on account of the schedules: trouble here is logged, and ticking starts.
    await this.rescheduleUnplanned().catch((error: Error) =>
      this.logger.error(`Rescheduling unplanned schedules failed: ${error.message}`, error.stack),
    );
    this.stopListening = this.wakeUp?.listen((at) => this.wake(at));
    this.scheduleTick(0);
  }

  /**
   * Stops claiming; the batch in flight commits or rolls back before the storage closes. Runs
   * after the HTTP drain (ShutdownDrain, an onModuleDestroy) and before the storage closes (in
   * onApplicationShutdown): Nest's order for these hooks, whatever the modules.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.timers.clear(this.timer);
    this.stopListening?.();
    await this.inFlight;
  }

  /**
   * Claims and fires everything due, batch after batch, until nothing is, with up to
   * `claimsInFlight` claims at once; then checks what is still due (see warnIfBehind), ends the
   * runs that timed out, and prunes history beyond the schedules' limits. Returns how many
   * schedules it claimed.
   */
  async tick(): Promise<number> {
    const claims = { claimed: 0, lateMs: 0 };
    const inFlight = Math.max(1, this.config.claimsInFlight ?? DEFAULT_CLAIMS_IN_FLIGHT);
    await Promise.all(Array.from({ length: inFlight }, () => this.claimUntilDone(claims)));
    if (!this.stopping) await this.warnIfBehind(claims.claimed, claims.lateMs);
    if (!this.stopping) await this.timeOutRuns();
    if (!this.stopping) await this.pruneHistory();
    return claims.claimed;
  }

  /**
   * Claims batch after batch until one comes back short: nothing more is due, or the rest is held
   * by the tick's other claims (or another replica's), which go on until they come back short.
   * Counts into `claims` how many it claimed, and how overdue the most overdue one was.
   */
  private async claimUntilDone(claims: { claimed: number; lateMs: number }): Promise<void> {
    while (!this.stopping) {
      const now = this.clock.now();
      this.lastClaimAt = now.getTime();
      const plans = new Map<string, DueFirePlan>();
      const claimTimer = this.metrics.startClaimTimer();
      const outcomes = await this.storage
        .claimDueSchedules(now, this.config.batchSize, (s) => {
          if (s.nextRunAt) claims.lateMs = Math.max(claims.lateMs, now.getTime() - s.nextRunAt.getTime());
          const plan = this.plan(s, now);
          plans.set(s.id, plan);
          return plan;
        })
        .finally(claimTimer);
      this.metrics.recordClaims(outcomes, plans);
      for (const failed of outcomes.filter((o) => o.status === 'failed')) {
        this.throttle.run('fire-failed', (suppressed) =>
          this.logger.error(
            `Fire of schedule ${failed.scheduleId} failed and was recorded as a failed run: ${failed.error}${suppressedSuffix(suppressed)}`,
          ),
        );
      }
      claims.claimed += outcomes.length;
      if (outcomes.length < this.config.batchSize) return;
    }
  }

  /**
   * Ends the runs whose runtime gave no final status within their schedule's run timeout (which
   * frees their schedules for the overlap policy). Done here rather than by the dispatcher so
   * that it happens even where no replica dispatches any more.
   */
  private async timeOutRuns(): Promise<void> {
    while (!this.stopping) {
      const ended = await this.storage.timeOutRuns(this.clock.now(), this.config.batchSize);
      if (ended < this.config.batchSize) return;
    }
  }

  /** One batch of history pruning, at most every PRUNE_INTERVAL_MS unless there is more to do. */
  private async pruneHistory(): Promise<void> {
    const now = this.clock.now().getTime();
    if (now < this.nextPruneAt) return;
    const deleted = await this.storage.pruneHistory(PRUNE_BATCH_SIZE);
    this.nextPruneAt = deleted < PRUNE_BATCH_SIZE ? now + PRUNE_INTERVAL_MS : now;
  }

  /**
   * Gives enabled schedules without a next run one: rows from before the scheduler, or whose
   * cron could not be computed. A schedule that still fails is logged and left alone. Each is
   * computed from the row as it is when written, so an update made since the listing is neither
   * overwritten nor ignored; and the version is not bumped (the user's fields do not change).
   */
  async rescheduleUnplanned(): Promise<void> {
    const now = this.clock.now();
    for (const schedule of await this.storage.listEnabledSchedulesWithoutNextRun(MAX_RESCHEDULED_AT_START)) {
      try {
        await this.storage.setMissingNextRun(schedule.userId, schedule.id, (current) => nextFireAfter(current, now));
      } catch (error) {
        this.logger.error(`Schedule ${schedule.id} cannot be scheduled: ${(error as Error).message}`);
      }
    }
  }

  /**
   * Says so, at warn, when the scheduler is behind: a schedule it just claimed, or one still due,
   * is later than BACKLOG_TOLERANCE_MS past its tick. That is downtime (the service or the
   * database was down) or more due work than the ticker gets through; either way the planner
   * coalesces what is within each schedule's catch-up window and records the rest as missed.
   */
  private async warnIfBehind(claimed: number, claimedLateMs: number): Promise<void> {
    const now = this.clock.now();
    const backlog = await this.storage.dueBacklog(now);
    this.metrics.setDueBacklog(backlog.count);
    const oldestLateMs = backlog.oldestNextRunAt ? now.getTime() - backlog.oldestNextRunAt.getTime() : 0;
    if (Math.max(claimedLateMs, oldestLateMs) <= this.config.intervalMs + BACKLOG_TOLERANCE_MS) return;
    const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
    this.throttle.run('behind', (suppressed) =>
      this.logger.warn(
        `The scheduler is behind: backlog ${backlog.count} schedule(s) due and not yet claimed` +
          (backlog.count > 0 ? `, the oldest ${seconds(oldestLateMs)} late` : '') +
          `; the last tick fired ${claimed}, up to ${seconds(claimedLateMs)} late. Fires within a schedule's ` +
          `catch-up window coalesce into one; older ones are recorded as missed${suppressedSuffix(suppressed)}`,
      ),
    );
  }

  /**
   * planDueFire, but a schedule whose fire times cannot be computed (a row the validation would
   * have refused) is logged, recorded as a failed run, and parked without a next run.
   */
  private plan(schedule: Schedule, now: Date): DueFirePlan {
    try {
      return planDueFire(schedule, now, this.dispatch.dispatching);
    } catch (error) {
      const message = `cannot compute the fire times: ${(error as Error).message}`;
      this.logger.error(`Schedule ${schedule.id} ${message}; it will not fire until it is changed`);
      const failed = unfiredRun(schedule, schedule.nextRunAt ?? now, 'failed', message);
      return { scheduleId: schedule.id, fire: null, unfired: [failed], nextRunAt: null };
    }
  }

  /** A write announced a next run at `at`: tick then if the timer would tick later. */
  private wake(at: Date): void {
    if (this.stopping) return;
    const atMs = at.getTime();
    if (this.plannedAt === null) {
      this.announcedAt = Math.min(this.announcedAt ?? atMs, atMs);
      return;
    }
    if (atMs < this.plannedAt) this.scheduleTick(Math.max(0, atMs - this.clock.now().getTime()));
  }

  private scheduleTick(delayMs: number): void {
    this.timers.clear(this.timer);
    this.plannedAt = this.clock.now().getTime() + delayMs;
    this.timer = this.timers.set(() => {
      this.timer = undefined;
      this.plannedAt = null;
      this.announcedAt = null;
      this.inFlight = this.tickAndPlan().then((sleepMs) => {
        this.inFlight = null;
        if (!this.stopping) this.scheduleTick(sleepMs);
      });
    }, delayMs);
  }

  /** One tick, then how long to sleep before the next; never rejects. */
  private async tickAndPlan(): Promise<number> {
    try {
      await this.tick();
      const nextDueAt = this.stopping ? null : await this.storage.nextDueAt();
      this.tickSucceeded();
      return sleepAfterTick({
        now: this.clock.now().getTime(),
        nextDueAt: nextDueAt?.getTime() ?? null,
        lastClaimAt: this.lastClaimAt,
        announcedAt: this.announcedAt,
        maxMs: this.config.intervalMs,
      });
    } catch (error) {
      this.tickFailed(error as Error);
      return this.config.intervalMs;
    }
  }

  private tickSucceeded(): void {
    if (this.failedTicks === 0) return;
    this.logger.log(`Ticking again after ${this.failedTicks} failed tick(s)`);
    this.failedTicks = 0;
    this.throttle.reset('tick-failed');
  }

  private tickFailed(error: Error): void {
    this.failedTicks++;
    const unavailable = error instanceof StorageUnavailable;
    const reason = unavailable ? `the storage is unavailable (${(error.cause as Error | undefined)?.message ?? error.message})` : error.message;
    this.throttle.run('tick-failed', (suppressed) => {
      const message = `Tick failed; retrying every tick: ${reason}${suppressedSuffix(suppressed)}`;
      if (unavailable) this.logger.error(message);
      else this.logger.error(message, error.stack);
    });
  }
}
