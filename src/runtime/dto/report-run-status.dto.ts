import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsIn, IsInt, IsNumber, IsObject, IsString, Max, MaxLength, Min, ValidateIf, ValidateNested } from 'class-validator';
import { RUN_USAGE_BOUNDS, RUNTIME_RUN_STATUSES, type RunUsage, type RuntimeRunStatus } from '../../domain/run.js';

/** The most characters of a reported error that are kept. */
export const MAX_REPORTED_ERROR_CHARS = 2000;

/** What a run consumed, reported with its final status. */
export class RunUsageDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: RUN_USAGE_BOUNDS.maxTokens, description: 'Tokens the model read.', example: 1200 })
  @IsDefined()
  @IsInt()
  @Min(0)
  @Max(RUN_USAGE_BOUNDS.maxTokens)
  readonly input_tokens: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: RUN_USAGE_BOUNDS.maxTokens, description: 'Tokens the model wrote.', example: 340 })
  @IsDefined()
  @IsInt()
  @Min(0)
  @Max(RUN_USAGE_BOUNDS.maxTokens)
  readonly output_tokens: number;

  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    minimum: 0,
    maximum: RUN_USAGE_BOUNDS.maxCostUsd,
    description: 'What the run cost, in US dollars; omitted or null when the runtime does not price it.',
    example: 0.0123,
  })
  @ValidateIf((_object, value) => value !== null && value !== undefined)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(RUN_USAGE_BOUNDS.maxCostUsd)
  readonly cost_usd?: number | null;
}

export function toRunUsage(dto: RunUsageDto): RunUsage {
  return { inputTokens: dto.input_tokens, outputTokens: dto.output_tokens, costUsd: dto.cost_usd ?? null };
}

export class ReportRunStatusDto {
  @ApiProperty({
    enum: RUNTIME_RUN_STATUSES,
    description:
      'The run\'s new status. `running` while the agent works; `succeeded` or `failed` at the end (a run may go ' +
      'straight to either). Reporting the status the run already has is a no-op; anything else after a final status is 409.',
    example: 'succeeded',
  })
  @IsIn(RUNTIME_RUN_STATUSES)
  readonly status: RuntimeRunStatus;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: MAX_REPORTED_ERROR_CHARS,
    description: 'Why the run failed; kept with `failed` only.',
    example: 'model call failed: rate limited',
  })
  @ValidateIf((_object, value) => value !== null && value !== undefined)
  @IsString()
  @MaxLength(MAX_REPORTED_ERROR_CHARS)
  readonly error?: string | null;

  @ApiPropertyOptional({
    type: RunUsageDto,
    nullable: true,
    description: 'What the run consumed; with `succeeded` or `failed` only (422 with `running`). The run shows it as `usage`.',
  })
  @ValidateIf((_object, value) => value !== null && value !== undefined)
  @IsObject()
  @ValidateNested()
  @Type(() => RunUsageDto)
  readonly usage?: RunUsageDto | null;
}
