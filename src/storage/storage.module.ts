import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DEFAULT_STORAGE_LIMITS, type StorageConfig } from '../config/app-config.js';
import { DueNotifications, SingleProcessDueNotifications } from './due-notifications.js';
import { MemoryStorage } from './memory/memory.storage.js';
import { StorageBase, type StorageOptions } from './storage.base.js';
import { dataSourceOptions } from './typeorm/data-source-options.js';
import { openDataSource } from './typeorm/open-data-source.js';
import { dueNotificationsFor } from './typeorm/postgres-due-notifications.js';
import { TypeOrmStorage } from './typeorm/typeorm.storage.js';

/** Binds StorageBase to the implementation the configuration names; the only place that chooses. */
@Module({})
export class StorageModule {
  static forRoot(config: StorageConfig): DynamicModule {
    const options: StorageOptions = {
      statefulSessionMaxMessages: config.statefulSessionMaxMessages ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxMessages,
      statefulSessionMaxBytes: config.statefulSessionMaxBytes ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes,
    };
    if (config.driver === 'memory') {
      return {
        module: StorageModule,
        global: true,
        providers: [
          { provide: StorageBase, useValue: new MemoryStorage(options) },
          { provide: DueNotifications, useValue: new SingleProcessDueNotifications() },
        ],
        exports: [StorageBase, DueNotifications],
      };
    }
    return {
      module: StorageModule,
      global: true,
      imports: [
        // TypeOrmModule owns the connection and closes it on shutdown; openDataSource opens it,
        // with its own bounded retries (TypeOrmModule's would log a stack trace per attempt).
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(config), toRetry: () => false }),
          dataSourceFactory: () => openDataSource(config),
        }),
      ],
      providers: [
        { provide: StorageBase, useFactory: (ds: DataSource) => new TypeOrmStorage(ds, options), inject: [DataSource] },
        { provide: DueNotifications, useFactory: (ds: DataSource) => dueNotificationsFor(ds, config.databaseUrl), inject: [DataSource] },
      ],
      exports: [StorageBase, DueNotifications],
    };
  }
}
