import { type DynamicModule, Global, Module, type Provider } from '@nestjs/common';
import { DispatchConfig } from '../config/app-config.js';
import { DispatcherService } from './dispatcher.service.js';
import { ScheduleEventsService } from './schedule-events.service.js';
import { DispatchMode } from '../config/dispatch-mode.js';

/**
 * The hand-off of fires to the agent runtime. Always provides DispatchMode (global: fires are
 * written in firing/ and schedules/); with a DispatchConfig, also the dispatcher that delivers
 * the outbox, and the one that delivers schedule events (they poll only where the config enables it).
 */
@Global()
@Module({})
export class DispatchModule {
  static forRoot(config: DispatchConfig | null): DynamicModule {
    const providers: Provider[] = [{ provide: DispatchMode, useValue: new DispatchMode(config !== null) }];
    if (config) providers.push({ provide: DispatchConfig, useValue: config }, DispatcherService, ScheduleEventsService);
    return { module: DispatchModule, providers, exports: [DispatchMode] };
  }
}
