import { runStorageContract } from '../storage.contract';
import { MemoryStorage } from '../../src/storage/memory/memory.storage';

runStorageContract('memory', async () => ({ storage: new MemoryStorage(), dispose: async () => undefined }));
