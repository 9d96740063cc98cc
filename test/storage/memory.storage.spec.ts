import { runStorageContract } from '../storage.contract.js';
import { MemoryStorage } from '../../src/storage/memory/memory.storage.js';

runStorageContract('memory', async () => ({ storage: new MemoryStorage(), dispose: async () => undefined }));
