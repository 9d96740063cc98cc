import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../config/app-config.js';
import { MemoryStorage } from './memory/memory.storage.js';
import { StorageBase } from './storage.base.js';
import { dataSourceOptions } from './typeorm/data-source-options.js';
import { TypeOrmStorage } from './typeorm/typeorm.storage.js';

/** Binds StorageBase to the implementation the configuration names; the only place that chooses. */
@Module({})
export class StorageModule {
  static forRoot(config: StorageConfig): DynamicModule {
    if (config.driver === 'memory') {
      return {
        module: StorageModule,
        global: true,
        providers: [{ provide: StorageBase, useValue: new MemoryStorage() }],
        exports: [StorageBase],
      };
    }
    return {
      module: StorageModule,
      global: true,
      // TypeOrmModule owns the connection: it runs the migrations on start and closes on shutdown.
      imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(config), retryAttempts: 3, retryDelay: 1000 })],
      providers: [{ provide: StorageBase, useFactory: (ds: DataSource) => new TypeOrmStorage(ds), inject: [DataSource] }],
      exports: [StorageBase],
    };
  }
}
