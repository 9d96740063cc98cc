import { type DynamicModule, Module } from '@nestjs/common';
import { SchedulerConfig } from '../config/app-config.js';
import { SchedulerWakeUp } from './scheduler-wake-up.js';
import { SchedulerService } from './scheduler.service.js';

/** The ticker. Global so that writers reach SchedulerWakeUp without importing the ticker's module. */
@Module({})
export class FiringModule {
  static forRoot(config: SchedulerConfig): DynamicModule {
    return {
      module: FiringModule,
      global: true,
      providers: [{ provide: SchedulerConfig, useValue: config }, SchedulerWakeUp, SchedulerService],
      exports: [SchedulerService, SchedulerWakeUp],
    };
  }
}
