import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { ScheduleController } from './schedule.controller';
import { SchedulesService } from './schedules.service';

@Module({
  imports: [SessionsModule],
  controllers: [ScheduleController],
  providers: [SchedulesService],
})
export class SchedulesModule {}
