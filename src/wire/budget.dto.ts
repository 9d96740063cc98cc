import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsNumber, Max, Min, ValidateIf } from 'class-validator';
import { BUDGET_LIMIT_BOUNDS, BUDGET_PERIODS, type BudgetPeriod } from '../domain/budget.js';

/** Optional and nullable: a limit left out or null is no limit. */
const optionalLimit = ValidateIf((_object, value) => value !== null && value !== undefined);

/** A schedule's budget (see Budget), as written and as shown: at least one limit. */
export class BudgetDto {
  @ApiProperty({
    enum: BUDGET_PERIODS,
    description:
      "The calendar period the limits apply to, in the schedule's time zone: a day from midnight, a week from Monday's " +
      "midnight, a month from the 1st's midnight.",
    example: 'day',
  })
  @IsIn(BUDGET_PERIODS)
  readonly period: BudgetPeriod;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: BUDGET_LIMIT_BOUNDS.maxRuns,
    description: 'Fires per period (by cron, catch-up or `POST /run`); null or left out: no limit.',
    example: 24,
  })
  @optionalLimit
  @IsInt()
  @Min(1)
  @Max(BUDGET_LIMIT_BOUNDS.maxRuns)
  readonly max_runs?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: BUDGET_LIMIT_BOUNDS.maxTokens,
    description: 'Input plus output tokens per period, as the runtime reports them; null or left out: no limit.',
    example: null,
  })
  @optionalLimit
  @IsInt()
  @Min(1)
  @Max(BUDGET_LIMIT_BOUNDS.maxTokens)
  readonly max_tokens?: number | null;

  @ApiPropertyOptional({
    type: 'number',
    nullable: true,
    minimum: BUDGET_LIMIT_BOUNDS.minCostUsd,
    maximum: BUDGET_LIMIT_BOUNDS.maxCostUsd,
    description: 'Cost in US dollars per period, as the runtime reports it; null or left out: no limit.',
    example: 5,
  })
  @optionalLimit
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(BUDGET_LIMIT_BOUNDS.minCostUsd)
  @Max(BUDGET_LIMIT_BOUNDS.maxCostUsd)
  readonly max_cost_usd?: number | null;
}
