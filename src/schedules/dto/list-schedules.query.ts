import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { PageQuery } from '../../common/page-query.dto.js';
import { SCHEDULE_STATUS_FILTERS, type ScheduleStatusFilter } from '../../domain/schedule.js';

/** GET /schedule: which of the caller's schedules, and which page. */
export class ListSchedulesQuery extends PageQuery {
  @ApiPropertyOptional({
    enum: SCHEDULE_STATUS_FILTERS,
    description:
      'Only schedules that are `active` (they fire: `paused_reason` null), `paused` (they do not), `failing` ' +
      '(`stats.consecutive_failures` > 0), or `budget_exhausted` (their budget period has reached a limit).',
  })
  @IsOptional()
  @IsIn(SCHEDULE_STATUS_FILTERS)
  readonly status?: ScheduleStatusFilter;

  @ApiPropertyOptional({ description: 'Only the schedules of this agent.', minLength: 1, maxLength: 256 })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  readonly agent_id?: string;
}
