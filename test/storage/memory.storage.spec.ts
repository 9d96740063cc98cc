import { runStorageContract } from './contract/run-storage-contract.js';
import { MemoryStorage } from '../../src/storage/memory/memory.storage.js';

runStorageContract('memory', async (options) => ({ storage: new MemoryStorage(options), dispose: async () => undefined }));
