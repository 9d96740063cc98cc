import { runStorageContract } from '../storage.contract';
import { openPostgresTestStorage, openSqliteTestStorage } from '../../../test/support/test-storages';

runStorageContract('sqlite', openSqliteTestStorage);
runStorageContract('postgres', openPostgresTestStorage);
