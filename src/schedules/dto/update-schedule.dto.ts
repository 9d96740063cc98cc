import { PartialType } from '@nestjs/swagger';
import { CreateScheduleDto } from './create-schedule.dto.js';

/**
 * Every create field, all optional: omitted fields keep their value. `null` is rejected except
 * where a field is nullable (`started_at`, `ended_at`, `history_limit`), where it clears the value.
 */
export class UpdateScheduleDto extends PartialType(CreateScheduleDto, { skipNullProperties: false }) {}
