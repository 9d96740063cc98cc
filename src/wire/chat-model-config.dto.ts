import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsString, Length } from 'class-validator';
import { MaxJsonBytes, Omittable } from '../common/validators.js';
import { EXAMPLE_CHAT_MODEL_CONFIG } from '../docs/examples.js';

/** The most `parameters` may hold, as JSON. */
export const MAX_PARAMETERS_BYTES = 16 * 1024;

export class ChatModelConfigDto {
  @ApiProperty({
    description: 'Model provider type, e.g. `openai`.',
    minLength: 1,
    maxLength: 256,
    example: EXAMPLE_CHAT_MODEL_CONFIG.type,
  })
  @IsString()
  @Length(1, 256)
  readonly type: string;

  @ApiProperty({
    description: 'ID of the stored credential the runtime uses to call the model.',
    maxLength: 256,
    example: EXAMPLE_CHAT_MODEL_CONFIG.credential_id,
  })
  @IsString()
  @Length(0, 256)
  readonly credential_id: string;

  @ApiProperty({ description: 'Model name, e.g. `gpt-4o`.', minLength: 1, maxLength: 256, example: EXAMPLE_CHAT_MODEL_CONFIG.model })
  @IsString()
  @Length(1, 256)
  readonly model: string;

  @ApiPropertyOptional({
    // The omitted value in words, not as `default`, which generated clients read as "always sent".
    description:
      `Provider-specific generation parameters, passed to the runtime as they are; at most ${MAX_PARAMETERS_BYTES} bytes as JSON. ` +
      'Omitted: `{}`.',
    type: 'object',
    additionalProperties: true,
    example: EXAMPLE_CHAT_MODEL_CONFIG.parameters,
  })
  @Omittable()
  @IsObject()
  @MaxJsonBytes(MAX_PARAMETERS_BYTES)
  readonly parameters?: Record<string, unknown>;
}
