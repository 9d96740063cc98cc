import { runStorageContract } from '../storage.contract';
import { openPostgresTestStorage, openSqliteTestStorage } from '../support/test-storages';

runStorageContract('sqlite', openSqliteTestStorage);
runStorageContract('postgres', openPostgresTestStorage);
