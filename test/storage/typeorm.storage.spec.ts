import { postgresSkipReason } from '../support/postgres.js';
import { openPostgresTestStorage, openSqliteTestStorage } from '../support/test-storages.js';
import { runStorageContract } from '../storage.contract.js';

runStorageContract('sqlite', openSqliteTestStorage);
runStorageContract('postgres', openPostgresTestStorage, postgresSkipReason());
