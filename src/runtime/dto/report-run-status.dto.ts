import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength, ValidateIf } from 'class-validator';
import { RUNTIME_RUN_STATUSES, type RuntimeRunStatus } from '../../domain/run.js';

/** The most characters of a reported error that are kept. */
export const MAX_REPORTED_ERROR_CHARS = 2000;

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
}
