// The DataSource the TypeORM CLI uses (npm run typeorm -- migration:run | migration:show | migration:revert),
// configured from the same environment variables as the service.
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config.js';
import { dataSourceOptions } from './src/storage/typeorm/data-source-options.js';

export default new DataSource(dataSourceOptions(loadConfig(process.env).storage));
