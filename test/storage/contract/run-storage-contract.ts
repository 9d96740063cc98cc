import { afterAll, beforeAll, describe, it } from '@jest/globals';
import type { StorageBackend } from '../../../src/storage/storage-backend.js';
import type { StorageOptions } from '../../../src/storage/storage-options.js';
import { CONTRACT_SESSION_MAX_BYTES, CONTRACT_SESSION_MAX_MESSAGES, contractContext } from './contract-context.js';
import { budgetsContract } from './budgets.js';
import { deliveryContract } from './delivery.js';
import { firingContract } from './firing.js';
import { handOffContract } from './hand-off.js';
import { historyContract } from './history.js';
import { idempotencyContract } from './idempotency.js';
import { lifecycleContract } from './lifecycle.js';
import { schedulesContract } from './schedules.js';

export interface OpenedStorage {
  storage: StorageBackend;
  dispose(): Promise<void>;
}

/**
 * The behaviour every storage backend must have, port by port (one file of this folder each).
 * Each backend's spec calls this once; `open` returns the backend, with the options given. With a
 * `skipReason` (a database this machine does not have) the suite is one skipped test that says why.
 */
export function runStorageContract(name: string, open: (options: StorageOptions) => Promise<OpenedStorage>, skipReason?: string): void {
  describe(`${name} storage contract`, () => {
    if (skipReason) {
      it.skip(`skipped: ${skipReason}`, () => undefined);
      return;
    }
    let opened: OpenedStorage | undefined;
    beforeAll(async () => {
      opened = await open({
        statefulSessionMaxMessages: CONTRACT_SESSION_MAX_MESSAGES,
        statefulSessionMaxBytes: CONTRACT_SESSION_MAX_BYTES,
        scheduleEvents: true,
      });
    });
    afterAll(() => opened?.dispose());
    const context = contractContext(() => {
      if (!opened) throw new Error('the storage opens in beforeAll: use it in hooks and tests');
      return opened.storage;
    });
    lifecycleContract(context);
    schedulesContract(context);
    historyContract(context);
    firingContract(context);
    deliveryContract(context);
    handOffContract(context);
    budgetsContract(context);
    idempotencyContract(context);
  });
}
