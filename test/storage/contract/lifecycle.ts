import { it } from '@jest/globals';
import type { ContractContext } from './contract-context.js';

/** StorageLifecycle: the readiness ping. */
export function lifecycleContract({ storage }: ContractContext): void {
  it('answers a ping', async () => {
    await storage.lifecycle.ping();
  });
}
