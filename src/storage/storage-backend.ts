import type { DispatchHandOff } from './dispatch-hand-off.js';
import type { DeliveryStorage } from './ports/delivery.storage.js';
import type { FiringStorage } from './ports/firing.storage.js';
import type { HistoryStorage } from './ports/history.storage.js';
import type { IdempotencyStorage } from './ports/idempotency.storage.js';
import type { ScheduleStorage } from './ports/schedule.storage.js';
import type { StorageLifecycle } from './ports/storage-lifecycle.js';

/**
 * One backend's implementation of every storage port, one object per role over one shared store:
 * what StorageModule binds the ports to, and what the storage contract runs against.
 */
export interface StorageBackend {
  readonly schedules: ScheduleStorage;
  readonly history: HistoryStorage;
  readonly firing: FiringStorage;
  readonly delivery: DeliveryStorage;
  readonly idempotency: IdempotencyStorage;
  readonly lifecycle: StorageLifecycle;
  /** How its fires reach this process's dispatcher (see DispatchHandOff). */
  readonly handOff: DispatchHandOff;
}
