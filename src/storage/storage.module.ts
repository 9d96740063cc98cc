import { type DynamicModule, Module, type Provider, type Type } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DEFAULT_STORAGE_LIMITS, type StorageConfig } from '../config/app-config.js';
import { DispatchHandOff } from './dispatch-hand-off.js';
import { DueNotifications, OutboxNotifications, SingleProcessDueNotifications, SingleProcessOutboxNotifications } from './due-notifications.js';
import { MemoryStorage } from './memory/memory.storage.js';
import { DeliveryStorage } from './ports/delivery.storage.js';
import { FiringStorage } from './ports/firing.storage.js';
import { HistoryStorage } from './ports/history.storage.js';
import { IdempotencyStorage } from './ports/idempotency.storage.js';
import { ScheduleStorage } from './ports/schedule.storage.js';
import { StorageLifecycle } from './ports/storage-lifecycle.js';
import type { StorageBackend } from './storage-backend.js';
import type { StorageOptions } from './storage-options.js';
import { dataSourceOptions } from './typeorm/data-source-options.js';
import { openDataSource } from './typeorm/open-data-source.js';
import { TypeOrmNotifications } from './typeorm/postgres-due-notifications.js';
import { TypeOrmStorage } from './typeorm/typeorm.storage.js';

/** Each port, and the role of a backend that implements it. */
const PORTS = [
  [ScheduleStorage, 'schedules'],
  [HistoryStorage, 'history'],
  [FiringStorage, 'firing'],
  [DeliveryStorage, 'delivery'],
  [IdempotencyStorage, 'idempotency'],
  [StorageLifecycle, 'lifecycle'],
] as const satisfies ReadonlyArray<readonly [unknown, keyof StorageBackend]>;

/** Each port bound to its role of the backend provided as `backend`, and the backend's hand-off to the dispatcher. */
function portsOf(backend: Type<StorageBackend>): Provider[] {
  return [
    ...PORTS.map(([port, role]) => ({ provide: port, useFactory: (storage: StorageBackend) => storage[role], inject: [backend] })),
    { provide: DispatchHandOff, useFactory: (storage: StorageBackend) => storage.handOff, inject: [backend] },
  ];
}

/** What StorageModule exports: the ports, the hand-off, and the notifications between processes. */
const EXPORTS = [...PORTS.map(([port]) => port), DispatchHandOff, DueNotifications, OutboxNotifications];

/** Binds the storage ports to the implementation the configuration names; the only place that chooses. */
@Module({})
export class StorageModule {
  /** `scheduleEvents`: whether schedule events are written (dispatch is configured: see StorageOptions). */
  static forRoot(config: StorageConfig, { scheduleEvents }: { scheduleEvents: boolean }): DynamicModule {
    const options: StorageOptions = {
      scheduleEvents,
      statefulSessionMaxMessages: config.statefulSessionMaxMessages ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxMessages,
      statefulSessionMaxBytes: config.statefulSessionMaxBytes ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes,
    };
    if (config.driver === 'memory') {
      return {
        module: StorageModule,
        global: true,
        providers: [
          { provide: MemoryStorage, useValue: new MemoryStorage(options) },
          ...portsOf(MemoryStorage),
          { provide: DueNotifications, useValue: new SingleProcessDueNotifications() },
          { provide: OutboxNotifications, useValue: new SingleProcessOutboxNotifications() },
        ],
        exports: EXPORTS,
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
        { provide: TypeOrmStorage, useFactory: (ds: DataSource) => new TypeOrmStorage(ds, options), inject: [DataSource] },
        ...portsOf(TypeOrmStorage),
        {
          provide: TypeOrmNotifications,
          useFactory: (ds: DataSource, storage: TypeOrmStorage) => new TypeOrmNotifications(ds, config, storage.handOff),
          inject: [DataSource, TypeOrmStorage],
        },
        { provide: DueNotifications, useFactory: (n: TypeOrmNotifications) => n.due, inject: [TypeOrmNotifications] },
        { provide: OutboxNotifications, useFactory: (n: TypeOrmNotifications) => n.outbox, inject: [TypeOrmNotifications] },
      ],
      exports: EXPORTS,
    };
  }
}
