import { Module } from '@nestjs/common';
import { IdempotencyModule } from '../idempotency/idempotency.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { RunsController } from './runs.controller.js';
import { ScheduleController } from './schedule.controller.js';
import { SchedulesService } from './schedules.service.js';

@Module({
  imports: [SessionsModule, IdempotencyModule],
  controllers: [ScheduleController, RunsController],
  providers: [SchedulesService],
})
export class SchedulesModule {}
