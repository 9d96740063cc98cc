import { type DynamicModule, Module } from '@nestjs/common';
import { CommonModule } from './common/common.module.js';
import type { AppConfig } from './config/app-config.js';
import { LimitsModule } from './config/limits.module.js';
import { HealthModule } from './health/health.module.js';
import { FiringModule } from './firing/firing.module.js';
import { SchedulesModule } from './schedules/schedules.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { StorageModule } from './storage/storage.module.js';

@Module({})
export class AppModule {
  /** The whole service for a validated configuration. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CommonModule,
        LimitsModule.forRoot(config.limits),
        StorageModule.forRoot(config.storage),
        SessionsModule,
        SchedulesModule,
        FiringModule.forRoot(config.scheduler),
        HealthModule,
      ],
    };
  }
}
