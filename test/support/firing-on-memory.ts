import { MemoryFiringStorage } from '../../src/storage/memory/memory-firing.storage.js';
import { MemoryHistoryStorage } from '../../src/storage/memory/memory-history.storage.js';
import { MemoryScheduleStorage } from '../../src/storage/memory/memory-schedule.storage.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';

/**
 * The memory storage's firing port, for ticker tests to subclass (a claim that fails, waits or
 * finds everything held elsewhere), with the schedules and history ports of the same store beside
 * it to set up and check what the ticker did.
 */
export class FiringOnMemory extends MemoryFiringStorage {
  readonly schedules: MemoryScheduleStorage;
  readonly history: MemoryHistoryStorage;

  constructor(store = new MemoryStore()) {
    super(store);
    this.schedules = new MemoryScheduleStorage(store);
    this.history = new MemoryHistoryStorage(store);
  }
}
