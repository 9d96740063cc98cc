import { runStorageContract } from '../storage.contract';
import { MemoryStorage } from './memory.storage';

runStorageContract('memory', async () => ({ storage: new MemoryStorage(), dispose: async () => undefined }));
