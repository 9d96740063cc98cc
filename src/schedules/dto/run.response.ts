import { ApiProperty } from '@nestjs/swagger';
import { ApiNextCursor } from '../../common/page-query.dto.js';
import { type Run, RUN_STATUSES, RUN_TRIGGERS, type RunStatus, type RunTrigger } from '../../domain/run.js';

export class RunResponse {
  @ApiProperty() readonly id: string;
  @ApiProperty() readonly schedule_id: string;
  @ApiProperty({ type: String, nullable: true, description: 'The session the fire created or appended to.' })
  readonly session_id: string | null;
  @ApiProperty({ enum: RUN_TRIGGERS, description: '`cron` on time, `catchup` for fires coalesced after downtime, `manual` for POST /run.' })
  readonly trigger: RunTrigger;
  @ApiProperty({ format: 'date-time', description: 'The cron time this run is for.' }) readonly scheduled_for: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it fired; null when missed.' })
  readonly fired_at: string | null;
  @ApiProperty({ enum: RUN_STATUSES }) readonly status: RunStatus;
  @ApiProperty({ type: String, nullable: true, description: 'Why it failed or was missed.' }) readonly error: string | null;
}

export class RunListResponse {
  @ApiProperty({ type: [RunResponse], description: 'Newest first (by scheduled_for).' }) readonly runs: RunResponse[];
  @ApiProperty({ type: 'integer', description: 'Number of runs (all pages).' }) readonly total: number;
  @ApiNextCursor() readonly next_cursor?: string | null;
}

export function toRunResponse(r: Run): RunResponse {
  return {
    id: r.id,
    schedule_id: r.scheduleId,
    session_id: r.sessionId,
    trigger: r.trigger,
    scheduled_for: r.scheduledFor.toISOString(),
    fired_at: r.firedAt?.toISOString() ?? null,
    status: r.status,
    error: r.error,
  };
}
