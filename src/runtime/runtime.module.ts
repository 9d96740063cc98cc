import { type DynamicModule, Module } from '@nestjs/common';
import { RuntimeConfig } from '../config/app-config.js';
import { RuntimeController } from './runtime.controller.js';
import { RuntimeTokenGuard } from '../auth/runtime-token.guard.js';
import { RuntimeService } from './runtime.service.js';

/**
 * The /runtime routes, for the agent runtime. Without a runtime token they are not mounted at
 * all, so that they answer exactly as an unknown route does (404), whatever is sent.
 */
@Module({})
export class RuntimeModule {
  static forRoot(config: RuntimeConfig): DynamicModule {
    if (!config.token) return { module: RuntimeModule };
    return {
      module: RuntimeModule,
      controllers: [RuntimeController],
      providers: [{ provide: RuntimeConfig, useValue: config }, RuntimeTokenGuard, RuntimeService],
    };
  }
}
