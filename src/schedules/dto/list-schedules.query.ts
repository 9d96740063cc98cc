import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Length, registerDecorator, type ValidationOptions } from 'class-validator';
import { type LabelSelector, labelSelectorOf, MAX_LABEL_SELECTORS } from '../../domain/labels.js';
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

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_LABEL_SELECTORS,
    description:
      'Only schedules with these labels: `key=value` (that value) or a bare `key` (any value); repeat it for more, every one must match ' +
      `(at most ${MAX_LABEL_SELECTORS}).`,
    example: ['team=support', 'env'],
  })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? [value] : value))
  @IsArray()
  @ArrayMaxSize(MAX_LABEL_SELECTORS)
  @IsString({ each: true })
  @IsLabelSelector({ each: true })
  readonly label?: string[];
}

/** A `label=` selector (see labelSelectorOf). */
function IsLabelSelector(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isLabelSelector',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && typeof labelSelectorOf(value) !== 'string',
        defaultMessage: (args) => {
          const found = typeof args?.value === 'string' ? labelSelectorOf(args.value) : 'must be a string';
          return `label ${typeof found === 'string' ? found : 'is not a selector'}`;
        },
      },
    });
}

/** The selectors of a query class-validator has accepted. */
export function labelSelectorsOf(query: ListSchedulesQuery): LabelSelector[] | undefined {
  return query.label?.map((text) => labelSelectorOf(text) as LabelSelector);
}
