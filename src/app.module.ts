import { type DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module.js';
import { HEADER_AUTH } from './auth/identity.js';
import { CommonModule } from './common/common.module.js';
import { type AppConfig, DEFAULT_OBSERVABILITY } from './config/app-config.js';
import { LimitsModule } from './config/limits.module.js';
import { DispatchModule } from './dispatch/dispatch.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { FiringModule } from './firing/firing.module.js';
import { RuntimeModule } from './runtime/runtime.module.js';
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
        AuthModule.forRoot(config.auth ?? HEADER_AUTH),
        LimitsModule.forRoot(config.limits),
        DispatchModule.forRoot(config.dispatch ?? null),
        StorageModule.forRoot(config.storage, { scheduleEvents: config.dispatch != null }),
        SessionsModule,
        SchedulesModule,
        FiringModule.forRoot(config.scheduler),
        HealthModule,
        MetricsModule.forRoot(config.observability?.metricsEnabled ?? DEFAULT_OBSERVABILITY.metricsEnabled),
        RuntimeModule.forRoot(config.runtime ?? { token: null }),
      ],
    };
  }
}
