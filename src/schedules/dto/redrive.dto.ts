import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Length } from 'class-validator';

/** Runs one redrive takes at most. */
export const MAX_REDRIVE_RUNS = 1000;

/** POST /runs/redrive. */
export class RedriveDto {
  @ApiProperty({ type: [String], minItems: 1, maxItems: MAX_REDRIVE_RUNS, description: 'The runs to deliver again.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_REDRIVE_RUNS, {
    message: ({ value }) => `run_ids has ${Array.isArray(value) ? value.length : 'too many'} ids; one call takes at most ${MAX_REDRIVE_RUNS}`,
  })
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  readonly run_ids: string[];
}

export class RedriveRefusal {
  @ApiProperty({ example: '01a24e72-83fc-716c-b281-92c3d4b60ccc' }) readonly run_id: string;
  @ApiProperty({
    enum: ['not-found', 'not-given-up'],
    description: '`not-found`: the caller has no such run; `not-given-up`: its delivery did not give up (another status).',
  })
  readonly reason: 'not-found' | 'not-given-up';
}

export class RedriveResponse {
  @ApiProperty({ type: [String], description: 'The runs taken: `pending` again, delivered anew (the same webhook-id).' }) readonly taken: string[];
  @ApiProperty({ type: [RedriveRefusal], description: 'The runs not taken, and why.' }) readonly refused: RedriveRefusal[];
}
