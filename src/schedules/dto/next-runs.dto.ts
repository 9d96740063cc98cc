import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { DecimalInteger } from '../../common/page-query.dto.js';
import { IsIsoInstant } from './schedule.validators.js';
import { EXAMPLE_SCHEDULE_ID, EXAMPLE_TIMES, EXAMPLE_TIMEZONE } from '../../docs/examples.js';

export class NextRunsQuery {
  @ApiPropertyOptional({ description: 'How many upcoming fire times.', minimum: 1, maximum: 100, default: 5 })
  @IsOptional()
  @DecimalInteger()
  @IsInt()
  @Min(1)
  @Max(100)
  readonly count?: number;
}

export class NextRunResponse {
  @ApiProperty({ format: 'date-time', description: 'The fire time in UTC.', example: EXAMPLE_TIMES.nextRun })
  readonly utc: string;
  @ApiProperty({ description: "The same instant in the schedule's time zone, with its offset.", example: EXAMPLE_TIMES.nextRunLocal })
  readonly local: string;
  @ApiProperty({ description: 'Whether the user skipped this fire time (POST /schedule/{id}/skip): it will be a skipped run.', example: false })
  readonly skipped: boolean;
}

/** POST and DELETE /schedule/{id}/skip: one upcoming fire time. */
export class SkipFireTimeDto {
  @ApiProperty({ format: 'date-time', description: 'The fire time, as next-runs lists it (an instant with an offset).', example: EXAMPLE_TIMES.nextRun })
  @IsIsoInstant()
  readonly scheduled_for: string;
}

export class NextRunsResponse {
  @ApiProperty({ example: EXAMPLE_SCHEDULE_ID }) readonly schedule_id: string;
  @ApiProperty({ description: 'IANA time zone of the schedule.', example: EXAMPLE_TIMEZONE }) readonly timezone: string;
  @ApiProperty({ type: [NextRunResponse], description: 'Empty when the schedule is disabled or past its activation window.' })
  readonly next_runs: NextRunResponse[];
}

/** POST /schedule/preview: when a schedule with this body would fire, before it exists. */
export class FireTimesPreviewResponse {
  @ApiProperty({ description: 'IANA time zone of the schedule.', example: EXAMPLE_TIMEZONE }) readonly timezone: string;
  @ApiProperty({ type: [NextRunResponse], description: 'Its first fire times from now, before jitter; empty when it would not fire (disabled, or past its window).' })
  readonly next_runs: NextRunResponse[];
}
