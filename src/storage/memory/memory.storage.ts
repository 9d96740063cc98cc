import { DispatchHandOff } from '../dispatch-hand-off.js';
import { StorageLifecycle } from '../ports/storage-lifecycle.js';
import type { StorageBackend } from '../storage-backend.js';
import { DEFAULT_STORAGE_OPTIONS, type StorageOptions } from '../storage-options.js';
import { MemoryDeliveryStorage } from './memory-delivery.storage.js';
import { MemoryFiringStorage } from './memory-firing.storage.js';
import { MemoryHistoryStorage } from './memory-history.storage.js';
import { MemoryIdempotencyStorage } from './memory-idempotency.storage.js';
import { MemoryScheduleStorage } from './memory-schedule.storage.js';
import { MemoryStore } from './memory-store.js';

/** Keeps everything in process memory: for tests and throwaway runs; lost on restart. */
export class MemoryStorage implements StorageBackend {
  readonly schedules: MemoryScheduleStorage;
  readonly history: MemoryHistoryStorage;
  readonly firing: MemoryFiringStorage;
  readonly delivery: MemoryDeliveryStorage;
  readonly idempotency = new MemoryIdempotencyStorage();
  readonly lifecycle: StorageLifecycle = new MemoryLifecycle();
  readonly handOff = new DispatchHandOff();

  constructor(options: StorageOptions = DEFAULT_STORAGE_OPTIONS) {
    const store = new MemoryStore(options, this.handOff);
    this.schedules = new MemoryScheduleStorage(store);
    this.history = new MemoryHistoryStorage(store);
    this.firing = new MemoryFiringStorage(store);
    this.delivery = new MemoryDeliveryStorage(store);
  }
}

/** Always there, with nothing to release. */
class MemoryLifecycle extends StorageLifecycle {
  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
