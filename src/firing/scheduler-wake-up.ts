import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { LogThrottle, suppressedSuffix } from '../common/log-throttle.js';
import { SchedulerConfig } from '../config/app-config.js';
import { DueNotifications, type DueListener } from '../storage/due-notifications.js';

/**
 * Where writes announce a schedule's new next run, so that tickers sleeping past it wake in
 * time: this process's ticker directly, the other replicas' through DueNotifications. Exported
 * by FiringModule (global), so that SchedulesService can announce without importing the ticker.
 */
@Injectable()
export class SchedulerWakeUp {
  private readonly logger = new Logger(SchedulerWakeUp.name);
  private readonly throttle: LogThrottle;
  private readonly listeners = new Set<DueListener>();

  constructor(
    private readonly notifications: DueNotifications,
    private readonly clock: Clock,
    private readonly config: SchedulerConfig,
  ) {
    this.throttle = new LogThrottle(undefined, () => this.clock.now().getTime());
  }

  /**
   * A schedule's next run is now `at` (null: none); call it after the write committed. Never
   * rejects: a notification that cannot be sent is logged, and the tickers find the schedule
   * within one maximum sleep anyway.
   */
  async nextRunSet(at: Date | null): Promise<void> {
    if (!at) return;
    for (const listener of this.listeners) listener(at);
    // Every ticker looks at the storage again within one SCHEDULER_INTERVAL_MS (the replicas
    // share it): a run further off needs no word to anyone.
    if (at.getTime() - this.clock.now().getTime() >= this.config.intervalMs) return;
    try {
      await this.notifications.publish(at);
    } catch (error) {
      this.throttle.run('publish', (suppressed) =>
        this.logger.warn(`Could not tell the other replicas of a schedule due at ${at.toISOString()}: ${(error as Error).message}${suppressedSuffix(suppressed)}`),
      );
    }
  }

  /** Calls `listener` with each next run announced, here or by another replica, until the returned function is called. */
  listen(listener: DueListener): () => void {
    this.listeners.add(listener);
    const unsubscribe = this.notifications.subscribe(listener);
    return () => {
      this.listeners.delete(listener);
      unsubscribe();
    };
  }
}
