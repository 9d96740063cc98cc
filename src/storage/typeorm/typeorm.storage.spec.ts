import { runStorageContract } from '../storage.contract';
import { openPostgresTestStorage, openSqliteTestStorage } from './typeorm-test-storage';

runStorageContract('sqlite', openSqliteTestStorage);
runStorageContract('postgres', openPostgresTestStorage);
