import { type BeforeApplicationShutdown, Inject, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { StorageUnavailable } from '../common/domain-errors.js';
import { LOG_THROTTLE_INTERVAL_MS, LogThrottle, suppressedSuffix } from '../common/log-throttle.js';
import { DispatchConfig } from '../config/app-config.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import { Metrics } from '../metrics/metrics.js';
import { DispatchHandOff, type LocalDispatcher } from '../storage/dispatch-hand-off.js';
import { OutboxNotifications } from '../storage/due-notifications.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { AttemptRecorder } from './attempt-recorder.js';
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

/** How late the oldest deliverable entry may be before the dispatchers count as behind (see the backlog warning). */
export const OUTBOX_BACKLOG_TOLERANCE_MS = 10_000;

/** Entries one claim takes at most (the SQL backends' rows per statement). */
const MAX_CLAIM = 500;

/** Deliveries a dispatcher holds (sending and queued), per slot of DISPATCH_CONCURRENCY: what it takes from fires and claims at once. */
export const HELD_PER_SLOT = 8;

/** Attempts waiting to be recorded past which no new one starts: the database sets the pace. */
export const MAX_UNRECORDED = 1000;

/** A queued delivery starts only if its attempt and record fit in its lease with this to spare. */
const LEASE_MARGIN_MS = 1000;

/** A delivery taken, and until when it is leased to this dispatcher. */
interface Held {
  delivery: ClaimedDelivery;
  leaseUntil: number;
}

/**
 * Delivers the outbox to the agent runtime (README "Dispatch to an agent runtime"). It is woken,
 * not polled: a fire of this process is handed to it by the storage as it commits (leased to it,
 * nothing read back: see DispatchHandOff); entries it could not take, and those other replicas
 * wrote or released, wake it to claim as many as it has room for (locally at once, from other
 * replicas through OutboxNotifications). It holds what it takes in a queue, sends up to
 * `concurrency` webhooks at once over a keep-alive pool, and records the attempts in batches
 * (AttemptRecorder) while it sends the next: a slot frees when the runtime answers. Every
 * pollIntervalMs it still looks, as the safety net (a lost notification, a retry come due, an
 * expired lease), and reports its backlog. A storage failure is logged (throttled, as the
 * scheduler does) and retried at the next poll. Logs never hold a webhook's body or the secret.
 */
@Injectable()
export class DispatcherService implements OnApplicationBootstrap, BeforeApplicationShutdown, LocalDispatcher {
  private readonly logger = new Logger(DispatcherService.name);
  private readonly throttle: LogThrottle;
  private readonly sender: WebhookSender;
  private readonly recorder: AttemptRecorder;
  /** Taken and not started yet, oldest first. */
  private readonly queue: Held[] = [];
  /** Webhooks sent and not answered yet. */
  private sending = 0;
  /** Attempts answered and not recorded yet. */
  private unrecorded = 0;
  /** Every attempt started and not yet recorded (for shutdown). */
  private readonly attempts = new Set<Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** When retryTimer fires, by the clock. */
  private retryAt = Infinity;
  private polling: Promise<void> | null = null;
  /** A wake came while a poll ran: poll again once it is done. */
  private wokenWhilePolling = false;
  private wakeScheduled = false;
  private started = false;
  private stopping = false;
  /** The last claim came back full: more may be due as soon as there is room. */
  private backlogged = false;
  /** Polls that failed in a row. */
  private failedPolls = 0;
  private detach: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly storage: DeliveryStorage,
    private readonly clock: Clock,
    private readonly config: DispatchConfig,
    @Optional() private readonly metrics: Metrics = Metrics.none,
    // Explicit tokens: a union type (`| null`) leaves Nest no type to read.
    @Optional() @Inject(DispatchHandOff) private readonly handOff: DispatchHandOff | null = null,
    @Optional() @Inject(OutboxNotifications) private readonly notifications: OutboxNotifications | null = null,
  ) {
    this.throttle = new LogThrottle(LOG_THROTTLE_INTERVAL_MS, () => this.clock.now().getTime());
    this.sender = new WebhookSender({ ...config, connections: config.concurrency });
    this.recorder = new AttemptRecorder(storage, clock);
  }

  onApplicationBootstrap(): void {
    if (!this.config.enabled) return;
    this.started = true;
    this.detach = this.handOff?.attach(this);
    this.unsubscribe = this.notifications?.subscribe(() => this.wake());
    this.schedulePoll(0);
  }

  /**
   * Stops taking and claiming, and waits for the attempts in flight to be answered and recorded;
   * what is queued is left to its lease. Runs after the HTTP drain and before the storage closes
   * (see SchedulerService.beforeApplicationShutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.detach?.();
    this.unsubscribe?.();
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.queue.length = 0;
    await this.polling;
    await Promise.allSettled([...this.attempts]);
    await this.recorder.idle();
    await this.sender.close();
  }

  // ---- LocalDispatcher: what the storage hands over, and when it wakes it ----

  room(): number {
    if (!this.started || this.stopping) return 0;
    return Math.max(0, this.config.concurrency * HELD_PER_SLOT - this.sending - this.queue.length);
  }

  leaseUntil(now: Date): Date {
    return new Date(now.getTime() + leaseMs(this.config.timeoutMs));
  }

  take(deliveries: ClaimedDelivery[]): void {
    // Stopping: their leases end and another replica (or this one, restarted) delivers them.
    if (this.stopping) return;
    const leaseUntil = this.leaseUntil(this.clock.now()).getTime();
    for (const delivery of deliveries) this.queue.push({ delivery, leaseUntil });
    this.pump();
  }

  /** Claims soon (not within the caller's write: the storage may wake it mid-transaction). */
  wake(): void {
    if (!this.started || this.stopping || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      if (this.stopping) return;
      if (this.polling) this.wokenWhilePolling = true;
      else if (this.room() > 0) this.runPoll(false);
      else this.backlogged = true;
    });
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
    return this.storage.claimDeliveries(now, limit, this.leaseUntil(now));
  }

  /** Claims while there is room and claims come back full. */
  private async poll(): Promise<void> {
    this.backlogged = false;
    while (!this.stopping) {
      const room = Math.min(this.room(), MAX_CLAIM);
      if (room <= 0) {
        this.backlogged = true;
        return;
      }
      const claimed = await this.claim(room);
      this.take(claimed);
      if (claimed.length < room) return;
    }
  }

  /** Starts queued deliveries while slots are free and the records keep up; drops those whose lease is too near its end. */
  private pump(): void {
    while (this.queue.length > 0 && this.sending < this.config.concurrency && this.unrecorded < MAX_UNRECORDED && !this.stopping) {
      const { delivery, leaseUntil } = this.queue.shift()!;
      // It could not be sent and recorded within its lease: another claim delivers it once the lease ends.
      if (this.clock.now().getTime() + this.config.timeoutMs + LEASE_MARGIN_MS > leaseUntil) continue;
      const attempt = this.deliver(delivery).finally(() => this.attempts.delete(attempt));
      this.attempts.add(attempt);
    }
    // Room again while entries are waiting: claim now rather than at the next poll. Not at every
    // freed slot: a claim is a transaction, and claiming one entry at a time cost as much as
    // delivering it.
    if (this.backlogged && !this.polling && this.room() >= Math.ceil((this.config.concurrency * HELD_PER_SLOT) / 2)) this.runPoll(false);
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
    if (delivery.attemptsMade === 0) this.metrics.recordDeliveryLag(at.getTime() - run.scheduledFor.getTime());
    this.sending++;
    const { answer, durationMs } = await this.sender.send(run.id, webhookBody(delivery, at)).finally(() => {
      // The slot is free once the runtime has answered: the record is written alongside the next sends.
      this.sending--;
      this.unrecorded++;
      this.pump();
    });
    try {
      const now = this.clock.now();
      const result = deliveryResult(answer, delivery.attemptsMade, this.config.maxAttempts, now);
      const error = attemptError(answer);
      this.metrics.recordDeliveryAttempt(result.outcome, durationMs);
      await this.recorder.record({ attempt: { runId: run.id, at, statusCode: answer.statusCode, error, durationMs }, result });
      if (result.outcome === 'gave-up') {
        this.throttle.run('gave-up', (suppressed) =>
          this.logger.warn(`Delivery of run ${run.id} gave up; the run failed: ${result.error}${suppressedSuffix(suppressed)}`),
        );
      } else if (result.outcome === 'retry') {
        this.wakeAt(result.nextAttemptAt);
        this.throttle.run('retry', (suppressed) =>
          this.logger.warn(
            `Delivery of run ${run.id} failed (attempt ${delivery.attemptsMade + 1} of ${this.config.maxAttempts}), ` +
              `retrying at ${result.nextAttemptAt.toISOString()}: ${error}${suppressedSuffix(suppressed)}`,
          ),
        );
      }
    } finally {
      this.unrecorded--;
      this.pump();
    }
  }

  /** A retry comes due at `at`: wake then, if that is sooner than anything planned. */
  private wakeAt(at: Date): void {
    if (!this.started || this.stopping || at.getTime() >= this.retryAt) return;
    clearTimeout(this.retryTimer);
    this.retryAt = at.getTime();
    this.retryTimer = setTimeout(() => {
      this.retryAt = Infinity;
      this.wake();
    }, Math.max(0, at.getTime() - this.clock.now().getTime()));
  }

  private schedulePoll(delayMs: number): void {
    this.pollTimer = setTimeout(() => {
      if (!this.polling) return this.runPoll(true);
      // A woken poll is running: it looks now anyway; the safety net comes round again later.
      this.wokenWhilePolling = true;
      this.schedulePoll(this.config.pollIntervalMs);
    }, delayMs);
  }

  /** A poll; `timed`: the safety net's, which also reports the backlog and plans the next one. */
  private runPoll(timed: boolean): void {
    if (timed) clearTimeout(this.pollTimer);
    this.polling = this.poll()
      .then(() => (timed ? this.reportBacklog() : undefined))
      .then(() => this.pollSucceeded())
      .catch((error: unknown) => this.pollFailed(error))
      .finally(() => {
        this.polling = null;
        if (this.stopping) return;
        if (timed) this.schedulePoll(this.config.pollIntervalMs);
        if (this.wokenWhilePolling) {
          this.wokenWhilePolling = false;
          this.wake();
        }
      });
  }

  /**
   * Reports the entries waiting for any dispatcher (a gauge), and says so, at warn, when the
   * oldest has waited past OUTBOX_BACKLOG_TOLERANCE_MS: more fires than the dispatchers deliver,
   * or none that can (all down, or DISPATCH_ENABLED=false everywhere).
   */
  private async reportBacklog(): Promise<void> {
    const now = this.clock.now();
    const { count, oldestAvailableAt } = await this.storage.outboxBacklog(now);
    this.metrics.setOutboxBacklog(count);
    const lateMs = oldestAvailableAt ? now.getTime() - oldestAvailableAt.getTime() : 0;
    if (lateMs <= OUTBOX_BACKLOG_TOLERANCE_MS) return;
    this.throttle.run('behind', (suppressed) =>
      this.logger.warn(
        `The dispatchers are behind: ${count} outbox entr${count === 1 ? 'y' : 'ies'} deliverable and not taken, ` +
          `the oldest ${Math.round(lateMs / 1000)} s late${suppressedSuffix(suppressed)}`,
      ),
    );
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
