import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsString, Length } from 'class-validator';
import { Omittable } from '../../common/validators.js';
import { MAX_LABELS } from '../../domain/labels.js';
import { IsLabels } from './schedule.validators.js';

export const BULK_ACTIONS = ['pause', 'resume', 'delete'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** Schedules one bulk call acts on at most. */
export const MAX_BULK_SCHEDULES = 1000;

/** POST /schedule/bulk: what to do, and to which of the caller's schedules (every selector given must match). */
export class BulkActionDto {
  @ApiProperty({ enum: BULK_ACTIONS, description: '`pause` (as a PATCH with `enabled: false`), `resume` (`enabled: true`) or `delete`.', example: 'pause' })
  @IsIn(BULK_ACTIONS)
  readonly action: BulkAction;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_BULK_SCHEDULES, description: 'These schedules (ids the caller does not have are not matched).' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(MAX_BULK_SCHEDULES, {
    message: ({ value }) => `ids has ${Array.isArray(value) ? value.length : 'too many'} ids; one call acts on at most ${MAX_BULK_SCHEDULES}`,
  })
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  readonly ids?: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    maxProperties: MAX_LABELS,
    description: 'Schedules with every one of these labels (`key: value`).',
    example: { team: 'support' },
  })
  @Omittable()
  @IsLabels()
  readonly labels?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Schedules of this agent.', minLength: 1, maxLength: 256 })
  @Omittable()
  @IsString()
  @Length(1, 256)
  readonly agent_id?: string;
}

export class BulkActionResponse {
  @ApiProperty({ type: 'integer', description: 'Schedules the selectors matched.', example: 12 }) readonly matched: number;
  @ApiProperty({ type: 'integer', description: 'Of those, the ones the action changed (a paused one is not paused again).', example: 9 })
  readonly changed: number;
}
