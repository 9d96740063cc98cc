import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { DecimalInteger } from '../../common/page-query.dto.js';

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
  @ApiProperty({ format: 'date-time', description: 'The fire time in UTC.', example: '2026-11-30T01:00:00.000Z' })
  readonly utc: string;
  @ApiProperty({ description: "The same instant in the schedule's time zone, with its offset.", example: '2026-11-30T09:00:00+08:00' })
  readonly local: string;
}

export class NextRunsResponse {
  @ApiProperty() readonly schedule_id: string;
  @ApiProperty({ description: 'IANA time zone of the schedule.' }) readonly timezone: string;
  @ApiProperty({ type: [NextRunResponse], description: 'Empty when the schedule is disabled or past its activation window.' })
  readonly next_runs: NextRunResponse[];
}
