import { DynamicModule, Module } from '@nestjs/common';
import { CommonModule } from './common/common.module';
import type { AppConfig } from './config/app-config';
import { HealthModule } from './health/health.module';
import { FiringModule } from './firing/firing.module';
import { SchedulesModule } from './schedules/schedules.module';
import { SessionsModule } from './sessions/sessions.module';
import { StorageModule } from './storage/storage.module';

@Module({})
export class AppModule {
  /** The whole service for a validated configuration. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CommonModule,
        StorageModule.forRoot(config.storage),
        SessionsModule,
        SchedulesModule,
        FiringModule.forRoot(config.scheduler),
        HealthModule,
      ],
    };
  }
}
