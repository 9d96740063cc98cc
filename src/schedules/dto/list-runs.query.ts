import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { PageQuery } from '../../common/page-query.dto.js';
import { RUN_STATUSES, RUN_TRIGGERS, type RunStatus, type RunTrigger } from '../../domain/run.js';
import { IsIsoInstant } from './schedule.validators.js';

/** GET /runs: which of the caller's runs, and which page (always paged: `limit` defaults to 50). */
export class ListRunsQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only the runs of this schedule.', minLength: 1, maxLength: 64 })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  readonly schedule_id?: string;

  @ApiPropertyOptional({ enum: RUN_STATUSES, description: 'Only runs with this status.' })
  @IsOptional()
  @IsIn(RUN_STATUSES)
  readonly status?: RunStatus;

  @ApiPropertyOptional({ enum: RUN_TRIGGERS, description: 'Only runs with this trigger.' })
  @IsOptional()
  @IsIn(RUN_TRIGGERS)
  readonly trigger?: RunTrigger;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only runs scheduled at or after this instant (ISO 8601 with an offset).' })
  @IsOptional()
  @IsIsoInstant()
  readonly since?: string;
}
