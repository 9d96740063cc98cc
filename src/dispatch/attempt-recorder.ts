import type { Clock } from '../common/clock.js';
import { StorageUnavailable } from '../common/domain-errors.js';
import type { DeliveryRecord } from '../domain/delivery.js';
import type { DeliveryStorage } from '../storage/ports/delivery.storage.js';

/** Records at most this many attempts per transaction (the SQL backends' rows per statement). */
export const MAX_RECORDS_PER_BATCH = 500;

interface Waiting {
  record: DeliveryRecord;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Records delivery attempts in batches, group-commit style: the first attempt to end is written at
 * once, and those that end while a write is in flight go together in the next one. So a quiet
 * dispatcher records each attempt without waiting, and a busy one writes a few statements per
 * batch instead of a transaction per attempt.
 */
export class AttemptRecorder {
  private waiting: Waiting[] = [];
  private writing: Promise<void> | null = null;

  constructor(
    private readonly storage: DeliveryStorage,
    private readonly clock: Clock,
  ) {}

  /** Resolves once the attempt is recorded; rejects if it could not be. */
  record(record: DeliveryRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ record, resolve, reject });
      this.writing ??= this.writeAll();
    });
  }

  /** Resolves once everything handed to it so far is written (or refused). */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_RECORDS_PER_BATCH);
      await this.write(batch);
    }
    this.writing = null;
  }

  private async write(batch: Waiting[]): Promise<void> {
    try {
      await this.storage.recordDeliveryAttempts(
        batch.map((w) => w.record),
        this.clock.now(),
      );
      for (const w of batch) w.resolve();
    } catch (error) {
      // A database that is away refuses them all; one that refused a single record (say, an
      // attempt too odd to store) must not take the others with it: each is tried alone.
      if (batch.length === 1 || error instanceof StorageUnavailable) {
        for (const w of batch) w.reject(error);
        return;
      }
      for (const w of batch) await this.write([w]);
    }
  }
}
