import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsObject, IsString, MaxLength, ValidateNested } from 'class-validator';
import { Omittable } from '../common/validators.js';
import type { RunOverrides } from '../domain/run.js';
import { PERMISSION_MODES, type PermissionMode } from '../domain/schedule.js';
import { ChatModelConfigDto } from './chat-model-config.dto.js';

/**
 * What one run fires differently from its schedule (POST /schedule/{id}/run's body), as written
 * and as the run shows it; the schedule does not change.
 */
export class RunOverridesDto {
  @ApiPropertyOptional({ description: 'The task for this run only.', maxLength: 20000, example: 'Summarise only the tickets tagged urgent.' })
  @Omittable()
  @IsString()
  @MaxLength(20000)
  readonly description?: string;

  @ApiPropertyOptional({ type: ChatModelConfigDto, description: 'The model for this run only.' })
  @Omittable()
  @IsObject()
  @ValidateNested()
  @Type(() => ChatModelConfigDto)
  readonly chat_model_config?: ChatModelConfigDto;

  @ApiPropertyOptional({ enum: PERMISSION_MODES, description: 'The permission mode for this run only.', example: 'default' })
  @Omittable()
  @IsIn(PERMISSION_MODES)
  readonly permission_mode?: PermissionMode;
}

/** The overrides a body gives, or null when it gives none. */
export function runOverridesOf(dto: RunOverridesDto | undefined): RunOverrides | null {
  if (!dto) return null;
  const overrides: RunOverrides = {};
  if (dto.description !== undefined) overrides.description = dto.description;
  if (dto.chat_model_config !== undefined) {
    const c = dto.chat_model_config;
    overrides.chatModelConfig = { type: c.type, credential_id: c.credential_id, model: c.model, parameters: c.parameters ?? {} };
  }
  if (dto.permission_mode !== undefined) overrides.permissionMode = dto.permission_mode;
  return Object.keys(overrides).length > 0 ? overrides : null;
}

/** The overrides as the API shows them. */
export function toRunOverridesResponse(o: RunOverrides): RunOverridesDto {
  return {
    ...(o.description !== undefined ? { description: o.description } : {}),
    ...(o.chatModelConfig !== undefined ? { chat_model_config: { ...o.chatModelConfig } } : {}),
    ...(o.permissionMode !== undefined ? { permission_mode: o.permissionMode } : {}),
  };
}
