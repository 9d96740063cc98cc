import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { SchedulerConfig } from '../config/app-config.js';
import { nextFireAfter } from './cron.js';
import type { Schedule } from '../domain/schedule.js';
import { type DueFirePlan, unfiredRun } from '../domain/fire.js';
import { StorageBase } from '../storage/storage.base.js';
import { planDueFire } from './fire-planner.js';

/**
 * Fires due schedules: every tick it claims them from storage in batches until none is due.
 * The database is the coordination: any number of replicas tick against it, and each due fire
 * time happens once (see StorageBase.claimDueSchedules).
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(SchedulerService.name);
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<unknown> | null = null;
  private stopping = false;

  constructor(
    private readonly storage: StorageBase,
    private readonly clock: Clock,
    private readonly config: SchedulerConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.enabled) return;
    // Start-up never fails on account of the schedules: trouble here is logged, and ticking starts.
    await this.rescheduleUnplanned().catch((error: Error) =>
      this.logger.error(`Rescheduling unplanned schedules failed: ${error.message}`, error.stack),
    );
    this.scheduleTick(0);
  }

  /** Stops claiming; the batch in flight commits or rolls back before the storage closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  /** Claims and fires everything due, batch after batch, until nothing is. Returns how many schedules it claimed. */
  async tick(): Promise<number> {
    let claimed = 0;
    while (!this.stopping) {
      const now = this.clock.now();
      const outcomes = await this.storage.claimDueSchedules(now, this.config.batchSize, (s) => this.plan(s, now));
      for (const failed of outcomes.filter((o) => o.status === 'failed')) {
        this.logger.error(`Fire of schedule ${failed.scheduleId} failed and was recorded as a failed run: ${failed.error}`);
      }
      claimed += outcomes.length;
      if (outcomes.length < this.config.batchSize) break;
    }
    return claimed;
  }

  /**
   * Gives enabled schedules without a next run one: rows from before the scheduler, or whose
   * cron could not be computed. A schedule that still fails is logged and left alone. Each is
   * computed from the row as it is when written, so an update made since the listing is neither
   * overwritten nor ignored; and the version is not bumped (the user's fields do not change).
   */
  async rescheduleUnplanned(): Promise<void> {
    const now = this.clock.now();
    for (const schedule of await this.storage.listEnabledSchedulesWithoutNextRun(10_000)) {
      try {
        await this.storage.setMissingNextRun(schedule.userId, schedule.id, (current) => nextFireAfter(current, now));
      } catch (error) {
        this.logger.error(`Schedule ${schedule.id} cannot be scheduled: ${(error as Error).message}`);
      }
    }
  }

  /**
   * planDueFire, but a schedule whose fire times cannot be computed (a row the validation would
   * have refused) is logged, recorded as a failed run, and parked without a next run.
   */
  private plan(schedule: Schedule, now: Date): DueFirePlan {
    try {
      return planDueFire(schedule, now);
    } catch (error) {
      const message = `cannot compute the fire times: ${(error as Error).message}`;
      this.logger.error(`Schedule ${schedule.id} ${message}; it will not fire until it is changed`);
      const failed = unfiredRun(schedule, schedule.nextRunAt ?? now, 'failed', message);
      return { scheduleId: schedule.id, fire: null, unfired: [failed], nextRunAt: null };
    }
  }

  private scheduleTick(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.inFlight = this.tick()
        .catch((error: Error) => this.logger.error(`Tick failed; retrying next tick: ${error.message}`, error.stack))
        .finally(() => {
          this.inFlight = null;
          if (!this.stopping) this.scheduleTick(this.config.intervalMs);
        });
    }, delayMs);
  }
}
