import { type DynamicModule, Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';
import { Metrics } from './metrics.js';

/**
 * Always provides Metrics (global: the ticker, the dispatcher and manual fires record into it);
 * when enabled, a registry of this app's own and GET /metrics, else Metrics.none and no route.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(enabled: boolean): DynamicModule {
    return {
      module: MetricsModule,
      providers: [{ provide: Metrics, useFactory: () => (enabled ? new Metrics(true) : Metrics.none) }],
      controllers: enabled ? [MetricsController] : [],
      exports: [Metrics],
    };
  }
}
