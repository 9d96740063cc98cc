import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { IdempotencyStorage } from '../storage/ports/idempotency.storage.js';
import { IDEMPOTENCY_KEY_TTL_MS } from './idempotency.interceptor.js';

/** How often expired keys are deleted, and how many per statement. */
export const IDEMPOTENCY_PRUNE_INTERVAL_MS = 10 * 60_000;
export const IDEMPOTENCY_PRUNE_BATCH = 1000;

/**
 * Deletes idempotency keys past their day, so that the table holds about a day of keys, whatever
 * the traffic: every replica does (deleting the same rows twice does no harm), in batches, until
 * a batch is not full.
 */
@Injectable()
export class IdempotencyPrunerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyPrunerService.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly storage: IdempotencyStorage,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.prune().catch((error: unknown) => this.logger.warn(`Pruning idempotency keys failed: ${(error as Error).message}`)), IDEMPOTENCY_PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Deletes every key created more than a day before now; returns how many. */
  async prune(): Promise<number> {
    const expiredBefore = new Date(this.clock.now().getTime() - IDEMPOTENCY_KEY_TTL_MS);
    let pruned = 0;
    for (;;) {
      const deleted = await this.storage.pruneKeys(expiredBefore, IDEMPOTENCY_PRUNE_BATCH);
      pruned += deleted;
      if (deleted < IDEMPOTENCY_PRUNE_BATCH) return pruned;
    }
  }
}
