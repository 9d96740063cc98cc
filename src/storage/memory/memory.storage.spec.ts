import { runStorageContract } from '../../../test/storage/contract/run-storage-contract.js';
import { MemoryStorage } from './memory.storage.js';

runStorageContract('memory', async (options) => ({ storage: new MemoryStorage(options), dispose: async () => undefined }));
