import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { StorageUnavailable } from '../common/domain-errors.js';
import { LOG_THROTTLE_INTERVAL_MS, LogThrottle, suppressedSuffix } from '../common/log-throttle.js';
import { DispatchConfig } from '../config/app-config.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import { Metrics } from '../metrics/metrics.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { attemptError, deliveryResult } from './retry-policy.js';
import { webhookBody, WebhookSender } from './webhook.js';

/**
 * How long a claimed entry stays leased past its claim, given the attempt's timeout: the attempt
 * (at most timeoutMs) and the write of its result must end within the lease, or another replica
 * claims the entry and delivers it again. Twice the timeout, plus a second, leaves room for a slow
 * write, a stalled event loop and some clock skew between replicas; it is still short enough that
 * the entries of a replica that died are retried soon.
 */
export function leaseMs(timeoutMs: number): number {
  return 2 * timeoutMs + 1000;
}

/**
 * Delivers the outbox to the agent runtime (README "Dispatch to an agent runtime"). Every pollIntervalMs it claims
 * as many due entries as it has free slots (DispatchConfig.concurrency), POSTs each one's webhook
 * and records the attempt with its result (see deliveryResult). The database coordinates the
 * replicas: a claim leases its entries, so each attempt is made by one of them, and a replica
 * that dies leaves its entries to the others once the lease ends. A storage failure is logged
 * (throttled, as the scheduler does) and retried at the next poll. Logs never hold a webhook's
 * body or the secret.
 */
@Injectable()
export class DispatcherService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DispatcherService.name);
  private readonly throttle: LogThrottle;
  private readonly sender: WebhookSender;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private started = false;
  private stopping = false;
  /** The last poll claimed all it asked for: more may be due as soon as a slot frees. */
  private backlogged = false;
  /** Polls that failed in a row. */
  private failedPolls = 0;

  constructor(
    private readonly storage: DeliveryStorage,
    private readonly clock: Clock,
    private readonly config: DispatchConfig,
    @Optional() private readonly metrics: Metrics = Metrics.none,
  ) {
    this.throttle = new LogThrottle(LOG_THROTTLE_INTERVAL_MS, () => this.clock.now().getTime());
    this.sender = new WebhookSender(config);
  }

  onApplicationBootstrap(): void {
    if (!this.config.enabled) return;
    this.started = true;
    this.schedulePoll(0);
  }

  /**
   * Stops claiming, and waits for the deliveries in flight to be sent and recorded. Runs after the
   * HTTP drain and before the storage closes (see SchedulerService.beforeApplicationShutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.polling;
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Claims and delivers everything deliverable at the clock's now, batch after batch, each batch
   * awaited, until nothing is (for tests and tools: a retry due later waits for a later drain).
   * Returns how many attempts it made.
   */
  async drain(): Promise<number> {
    let attempts = 0;
    while (!this.stopping) {
      const claimed = await this.claim(this.config.concurrency);
      if (claimed.length === 0) break;
      await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
      attempts += claimed.length;
    }
    return attempts;
  }

  private claim(limit: number): Promise<ClaimedDelivery[]> {
    const now = this.clock.now();
    return this.storage.claimDeliveries(now, limit, new Date(now.getTime() + leaseMs(this.config.timeoutMs)));
  }

  /** Fills the free slots, claim after claim, while claims come back full. */
  private async poll(): Promise<void> {
    this.backlogged = false;
    while (!this.stopping) {
      const free = this.config.concurrency - this.inFlight.size;
      if (free <= 0) {
        this.backlogged = true;
        return;
      }
      const claimed = await this.claim(free);
      for (const delivery of claimed) this.start(delivery);
      if (claimed.length < free) return;
    }
  }

  private start(delivery: ClaimedDelivery): void {
    const running: Promise<void> = this.deliver(delivery).finally(() => {
      this.inFlight.delete(running);
      // Half the slots free while entries are waiting: claim now rather than at the next poll.
      // Not at every freed slot: a claim is a transaction, and claiming one entry at a time
      // cost as much as delivering it.
      const free = this.config.concurrency - this.inFlight.size;
      if (this.backlogged && free >= Math.ceil(this.config.concurrency / 2) && this.started && !this.stopping && !this.polling) {
        clearTimeout(this.timer);
        this.runPoll();
      }
    });
    this.inFlight.add(running);
  }

  /**
   * One attempt at one entry, recorded. Never rejects: if the attempt cannot be recorded, the
   * entry stays leased and is claimed again once the lease ends (the runtime may see the run twice).
   */
  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    try {
      await this.attempt(delivery);
    } catch (error) {
      this.throttle.run('delivery-failed', (suppressed) =>
        this.logger.error(
          `Delivering run ${delivery.run.id} failed; it will be delivered again once its lease ends: ` +
            `${reason(error)}${suppressedSuffix(suppressed)}`,
        ),
      );
    }
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const { run } = delivery;
    const at = this.clock.now();
    const { answer, durationMs } = await this.sender.send(run.id, webhookBody(delivery, at));
    const now = this.clock.now();
    const result = deliveryResult(answer, delivery.attemptsMade, this.config.maxAttempts, now);
    const error = attemptError(answer);
    this.metrics.recordDeliveryAttempt(result.outcome, durationMs);
    await this.storage.recordDeliveryAttempt({ runId: run.id, at, statusCode: answer.statusCode, error, durationMs }, result, now);
    if (result.outcome === 'gave-up') {
      this.throttle.run('gave-up', (suppressed) =>
        this.logger.warn(`Delivery of run ${run.id} gave up; the run failed: ${result.error}${suppressedSuffix(suppressed)}`),
      );
    } else if (result.outcome === 'retry') {
      this.throttle.run('retry', (suppressed) =>
        this.logger.warn(
          `Delivery of run ${run.id} failed (attempt ${delivery.attemptsMade + 1} of ${this.config.maxAttempts}), ` +
            `retrying at ${result.nextAttemptAt.toISOString()}: ${error}${suppressedSuffix(suppressed)}`,
        ),
      );
    }
  }

  private schedulePoll(delayMs: number): void {
    this.timer = setTimeout(() => this.runPoll(), delayMs);
  }

  private runPoll(): void {
    this.polling = this.poll()
      .then(() => this.pollSucceeded())
      .catch((error: unknown) => this.pollFailed(error))
      .finally(() => {
        this.polling = null;
        if (!this.stopping) this.schedulePoll(this.config.pollIntervalMs);
      });
  }

  private pollSucceeded(): void {
    if (this.failedPolls === 0) return;
    this.logger.log(`Claiming deliveries again after ${this.failedPolls} failed poll(s)`);
    this.failedPolls = 0;
    this.throttle.reset('poll-failed');
  }

  private pollFailed(error: unknown): void {
    this.failedPolls++;
    this.throttle.run('poll-failed', (suppressed) => {
      const message = `Claiming deliveries failed; retrying every poll: ${reason(error)}${suppressedSuffix(suppressed)}`;
      if (error instanceof StorageUnavailable || !(error instanceof Error)) this.logger.error(message);
      else this.logger.error(message, error.stack);
    });
  }
}

function reason(error: unknown): string {
  if (error instanceof StorageUnavailable) {
    return `the storage is unavailable (${(error.cause as Error | undefined)?.message ?? error.message})`;
  }
  return error instanceof Error ? error.message : String(error);
}
