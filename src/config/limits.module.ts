import { type DynamicModule, Global, Module } from '@nestjs/common';
import { DEFAULT_LIMITS, LimitsConfig } from './app-config.js';

/** Makes the validated LimitsConfig injectable everywhere (SchedulesService checks them). */
@Global()
@Module({})
export class LimitsModule {
  static forRoot(limits: LimitsConfig = DEFAULT_LIMITS): DynamicModule {
    return { module: LimitsModule, providers: [{ provide: LimitsConfig, useValue: limits }], exports: [LimitsConfig] };
  }
}
