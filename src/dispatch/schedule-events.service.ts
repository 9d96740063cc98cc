import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { StorageUnavailable } from '../common/domain-errors.js';
import { LOG_THROTTLE_INTERVAL_MS, LogThrottle, suppressedSuffix } from '../common/log-throttle.js';
import { DispatchConfig } from '../config/app-config.js';
import type { ClaimedScheduleEvent, ScheduleEventResult } from '../domain/schedule-event.js';
import { Metrics } from '../metrics/metrics.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { toRunResponse } from '../wire/run.response.js';
import { toScheduleResponse } from '../wire/schedule.response.js';
import { leaseMs } from './dispatcher.service.js';
import { deliveryResult } from './retry-policy.js';
import { WebhookSender } from './webhook.js';

/** Events one round takes at most: transitions are rare next to fires. */
const EVENTS_PER_ROUND = 100;
/** Events sent at once. */
const EVENT_CONNECTIONS = 8;

/**
 * The webhook of a schedule event: its type, `timestamp` = `now` (when it is sent), and `data`
 * with the schedule as the API returns it now, when the transition happened, and, for a budget,
 * when its period resets.
 */
export function scheduleEventBody({ event, schedule, run }: ClaimedScheduleEvent, now: Date): string {
  return JSON.stringify({
    type: event.type,
    timestamp: now.toISOString(),
    data: {
      schedule: toScheduleResponse(schedule, now),
      occurred_at: event.occurredAt.toISOString(),
      ...(event.type === 'run.cancelled' ? { run: run && toRunResponse(run) } : { resets_at: event.resetsAt?.toISOString() ?? null }),
    },
  });
}

/**
 * Delivers schedule events (README "Events") to EVENTS_URL (DISPATCH_URL when unset; `run.cancelled`
 * to DISPATCH_URL, the runtime's) as signed
 * Standard Webhooks, `webhook-id` the event's id, retried like fires (DISPATCH_MAX_ATTEMPTS, the
 * same backoff and Retry-After); one that is refused for good, or runs out of attempts, is dropped
 * with a warning. It polls every pollIntervalMs where the dispatcher runs (DISPATCH_ENABLED):
 * events are rare, and a second of delay is nothing to an operator's alert. A storage failure is
 * logged (throttled) and retried at the next poll.
 */
@Injectable()
export class ScheduleEventsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ScheduleEventsService.name);
  private readonly throttle: LogThrottle;
  private readonly sender: WebhookSender;
  /** `run.cancelled` goes to the runtime's webhook endpoint (DISPATCH_URL), not EVENTS_URL. */
  private readonly runtimeSender: WebhookSender;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<number> | null = null;
  private stopping = false;

  constructor(
    private readonly storage: DeliveryStorage,
    private readonly clock: Clock,
    private readonly config: DispatchConfig,
    @Optional() private readonly metrics: Metrics = Metrics.none,
  ) {
    this.throttle = new LogThrottle(LOG_THROTTLE_INTERVAL_MS, () => this.clock.now().getTime());
    this.sender = new WebhookSender({ ...config, url: config.eventsUrl ?? config.url, connections: EVENT_CONNECTIONS });
    this.runtimeSender = new WebhookSender({ ...config, connections: EVENT_CONNECTIONS });
  }

  onApplicationBootstrap(): void {
    if (this.config.enabled) this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.round?.catch(() => undefined);
    await this.sender.close();
    await this.runtimeSender.close();
  }

  /**
   * One round: claims the events due now, sends them, and records what became of each. Returns
   * how many it sent. Rounds do not overlap: a call while one runs waits for it and returns 0.
   */
  async deliverDue(): Promise<number> {
    if (this.round) {
      await this.round.catch(() => undefined);
      return 0;
    }
    this.round = this.deliver();
    try {
      return await this.round;
    } finally {
      this.round = null;
    }
  }

  private async deliver(): Promise<number> {
    const now = this.clock.now();
    const claimed = await this.storage.claimScheduleEvents(now, EVENTS_PER_ROUND, new Date(now.getTime() + leaseMs(this.config.timeoutMs)));
    const results = await Promise.all(claimed.map((c) => this.attempt(c)));
    await this.storage.recordScheduleEventAttempts(results);
    return claimed.length;
  }

  private async attempt(claimed: ClaimedScheduleEvent): Promise<ScheduleEventResult> {
    const { event } = claimed;
    const sender = event.type === 'run.cancelled' ? this.runtimeSender : this.sender;
    const sent = await sender.send(event.id, scheduleEventBody(claimed, this.clock.now()));
    const result = deliveryResult(sent.answer, claimed.attemptsMade, this.config.maxAttempts, this.clock.now());
    this.metrics.recordScheduleEvent(event.type, claimed.attemptsMade, result.outcome === 'delivered' || result.outcome === 'completed');
    switch (result.outcome) {
      case 'delivered':
      case 'completed':
        return { eventId: event.id, outcome: 'delivered' };
      case 'retry':
        return { eventId: event.id, outcome: 'retry', nextAttemptAt: result.nextAttemptAt };
      case 'gave-up':
        this.throttle.run('event-gave-up', (suppressed) =>
          this.logger.warn(`Event ${event.type} ${event.id} of schedule ${event.scheduleId} dropped: ${result.error}${suppressedSuffix(suppressed)}`),
        );
        return { eventId: event.id, outcome: 'gave-up' };
    }
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.deliverDue()
        .catch((error: unknown) => this.logFailure(error))
        .finally(() => this.schedule());
    }, this.config.pollIntervalMs);
    this.timer.unref();
  }

  private logFailure(error: unknown): void {
    this.throttle.run('events-failed', (suppressed) => {
      const message = `Delivering schedule events failed: ${(error as Error).message}${suppressedSuffix(suppressed)}`;
      if (error instanceof StorageUnavailable || !(error instanceof Error)) this.logger.error(message);
      else this.logger.error(message, error.stack);
    });
  }
}
