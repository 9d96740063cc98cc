import { type DynamicModule, Module } from '@nestjs/common';
import { SchedulerConfig } from '../config/app-config.js';
import { SchedulerService } from './scheduler.service.js';

@Module({})
export class FiringModule {
  static forRoot(config: SchedulerConfig): DynamicModule {
    return {
      module: FiringModule,
      providers: [{ provide: SchedulerConfig, useValue: config }, SchedulerService],
      exports: [SchedulerService],
    };
  }
}
