import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import { Omittable } from '../../common/validators.js';
import { IsIsoInstant } from './schedule.validators.js';

/** Fire times one backfill fires at most. */
export const MAX_BACKFILL_SLOTS = 1000;

/** POST /schedule/{id}/backfill. */
export class BackfillDto {
  @ApiProperty({ format: 'date-time', description: 'From this instant (inclusive).', example: '2026-11-01T00:00:00Z' })
  @IsIsoInstant()
  readonly from: string;

  @ApiProperty({ format: 'date-time', description: 'To this instant (inclusive); fire times not yet past are left to the schedule.', example: '2026-11-07T00:00:00Z' })
  @IsIsoInstant()
  readonly to: string;

  @ApiPropertyOptional({ description: 'List the fire times it would fire, and write nothing. Omitted: `false`.', example: false })
  @Omittable()
  @IsBoolean()
  readonly dry_run?: boolean;
}

export class BackfillSlotResponse {
  @ApiProperty({ format: 'date-time', example: '2026-11-02T01:00:00.000Z' }) readonly scheduled_for: string;
  @ApiProperty({
    enum: ['would_fire', 'fired', 'taken', 'budget_exhausted'],
    description: '`would_fire` (dry run), `fired` (its run is `run_id`), `taken` (it had a run meanwhile), `budget_exhausted` (not fired).',
    example: 'fired',
  })
  readonly outcome: 'would_fire' | 'fired' | 'taken' | 'budget_exhausted';
  @ApiProperty({ type: String, nullable: true, description: 'The backfill run, when fired.', example: null }) readonly run_id: string | null;
}

export class BackfillResponse {
  @ApiProperty({ example: false }) readonly dry_run: boolean;
  @ApiProperty({ type: [BackfillSlotResponse], description: 'The past fire times in the range that had no run, oldest first.' })
  readonly slots: BackfillSlotResponse[];
  @ApiProperty({ type: 'integer', description: 'How many it fired.', example: 6 }) readonly fired: number;
}
