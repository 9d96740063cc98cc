import type { EntityManager } from 'typeorm';
import type { ScheduleEvent, ScheduleEventType } from '../../domain/schedule-event.js';
import type { SqlDialect } from './dialect.js';
import type { BulkSql } from './bulk-sql.js';
import type { ScheduleEventRow } from './entities/schedule-event.entity.js';

/**
 * The writes of schedule events, in the transactions that make their transitions: nothing at all
 * where events are not kept (StorageOptions.scheduleEvents: nothing would deliver them).
 */
export class EventRows {
  constructor(
    private readonly bulk: BulkSql,
    private readonly enabled: boolean,
  ) {}

  async insert(em: EntityManager, events: readonly ScheduleEvent[]): Promise<void> {
    if (!this.enabled || events.length === 0) return;
    await this.bulk.insert(em, 'schedule_events', events.map(toScheduleEventRow));
  }
}

export function toScheduleEventRow(e: ScheduleEvent): ScheduleEventRow {
  return {
    id: e.id,
    schedule_id: e.scheduleId,
    user_id: e.userId,
    type: e.type,
    occurred_at: e.occurredAt,
    resets_at: e.resetsAt,
    run_id: e.runId,
    available_at: e.occurredAt,
    attempts: 0,
    lease_until: null,
  };
}

/** A `schedule_events` row as a raw query returns it (see RawScheduleRow). */
export type RawScheduleEventRow = { [K in keyof ScheduleEventRow]: ScheduleEventRow[K] | string | number | null };

export function scheduleEventFromRaw(dialect: SqlDialect, r: RawScheduleEventRow): ScheduleEvent {
  return {
    id: r.id as string,
    scheduleId: r.schedule_id as string,
    userId: r.user_id as string,
    type: r.type as ScheduleEventType,
    occurredAt: dialect.timestampFromRaw(r.occurred_at as Date | string),
    resetsAt: r.resets_at == null ? null : dialect.timestampFromRaw(r.resets_at as Date | string),
    runId: (r.run_id as string | null) ?? null,
  };
}
