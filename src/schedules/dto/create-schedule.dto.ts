import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsObject,
  IsString,
  IsTimeZone,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { PERMISSION_MODES, type PermissionMode } from '../../domain/schedule.js';
import { IsCronExpression, IsIsoInstant, Omittable } from './schedule.validators.js';
import { ChatModelConfigDto } from './chat-model-config.dto.js';

/** Optional and nullable: null clears the field (the activation window's ends). */
const nullable = ValidateIf((_object, value) => value !== null && value !== undefined);

export class CreateScheduleDto {
  @ApiProperty({ description: 'Display name of the schedule.', minLength: 1, maxLength: 256, example: 'Daily digest' })
  @IsString()
  @Length(1, 256)
  readonly name: string;

  @ApiPropertyOptional({
    description: 'The task: sent to the agent as `<scheduled-task>\\n{description}\\n</scheduled-task>` on each fire.',
    maxLength: 20000,
    default: '',
    example: 'Summarise yesterday’s tickets.',
  })
  @Omittable()
  @IsString()
  @MaxLength(20000)
  readonly description?: string;

  @ApiProperty({
    description:
      'Standard cron: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first. ' +
      'Day-of-week 0 and 7 are Sunday, so `0 9 * * 1-5` is Monday to Friday at 09:00.',
    maxLength: 256,
    example: '0 9 * * 1-5',
  })
  @IsString()
  @MaxLength(256)
  @IsCronExpression()
  readonly cron_expression: string;

  @ApiPropertyOptional({ description: 'IANA time zone the cron expression is read in.', default: 'UTC', example: 'Asia/Shanghai' })
  @Omittable()
  @IsString()
  @MaxLength(64)
  @IsTimeZone({ message: 'timezone must be an IANA time zone, e.g. Europe/Berlin' })
  readonly timezone?: string;

  @ApiProperty({ description: 'The agent each fire runs.', minLength: 1, maxLength: 256 })
  @IsString()
  @Length(1, 256)
  readonly agent_id: string;

  @ApiProperty({ description: 'The model the agent runs with.', type: ChatModelConfigDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => ChatModelConfigDto)
  readonly chat_model_config: ChatModelConfigDto;

  @ApiPropertyOptional({ description: 'Disabled schedules never fire and cannot be run by hand.', default: true })
  @Omittable()
  @IsBoolean()
  readonly enabled?: boolean;

  @ApiPropertyOptional({
    description: 'When true, every fire appends to one session (`{schedule_id}_stateful`); otherwise each fire gets a fresh session.',
    default: false,
  })
  @Omittable()
  @IsBoolean()
  readonly stateful?: boolean;

  @ApiPropertyOptional({
    description: 'Permission mode of the sessions this schedule creates.',
    enum: PERMISSION_MODES,
    default: 'dont_ask',
  })
  @Omittable()
  @IsIn(PERMISSION_MODES)
  readonly permission_mode?: PermissionMode;

  @ApiPropertyOptional({
    description:
      'Fires missed by at most this many seconds (service down or busy) coalesce into one late fire; ' +
      'older ones are recorded as missed runs and not fired.',
    minimum: 1,
    maximum: 86400,
    default: 300,
  })
  @Omittable()
  @IsInt()
  @Min(1)
  @Max(86400)
  readonly catchup_window_seconds?: number;

  @ApiPropertyOptional({
    description: 'Start of the activation window: an instant (ISO 8601 with offset), stored and returned in UTC.',
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2026-01-01T00:00:00Z',
  })
  @nullable
  @IsIsoInstant()
  readonly started_at?: string | null;

  @ApiPropertyOptional({
    description: 'End of the activation window, after `started_at`: an instant, stored and returned in UTC.',
    type: String,
    format: 'date-time',
    nullable: true,
    example: '2026-12-31T23:59:59Z',
  })
  @nullable
  @IsIsoInstant()
  readonly ended_at?: string | null;
}
