import { v7 as uuidv7 } from 'uuid';
import type { Schedule } from '../../src/domain/schedule.js';
import { EMPTY_STATS, type ScheduleStats } from '../../src/domain/schedule-stats.js';

/** A valid schedule model with every field set; override what a test is about. */
export function aSchedule(overrides: Partial<Schedule> = {}): Schedule {
  const at = new Date('2026-03-01T08:00:00.123Z');
  return {
    id: uuidv7(),
    userId: 'alice',
    agentId: 'agent-1',
    name: 'Daily digest',
    description: 'Summarise yesterday',
    enabled: true,
    timezone: 'Europe/Berlin',
    cronExpression: '0 9 * * 1-5',
    fireAt: null,
    everySeconds: null,
    anchorAt: null,
    jitterSeconds: 0,
    startedAt: new Date('2026-01-01T00:00:00.000Z'),
    endedAt: null,
    chatModelConfig: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters: { temperature: 0.2 } },
    stateful: false,
    permissionMode: 'dont_ask',
    source: 'USER',
    sourceSessionId: null,
    catchupWindowSeconds: 300,
    overlapPolicy: 'skip',
    runTimeoutSeconds: 3600,
    historyLimit: null,
    nextRunAt: null,
    lastRunAt: null,
    pausedReason: null,
    pauseNote: null,
    pauseAfterFailures: null,
    consecutiveFailures: 0,
    maxRuns: null,
    fireCount: 0,
    budget: null,
    budgetExhaustedUntil: null,
    stats: { ...EMPTY_STATS },
    labels: {},
    key: null,
    skippedFireTimes: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
    ...overrides,
  };
}

/** A request body that creates a valid schedule; override what a test is about. */
export function aCreateBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'Daily digest',
    description: 'Summarise yesterday',
    cron_expression: '0 9 * * 1-5',
    timezone: 'Asia/Shanghai',
    agent_id: 'agent-1',
    chat_model_config: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters: { temperature: 0.2 } },
    ...overrides,
  };
}

/** The stats of a schedule whose runs so far are `count` successes, the last at `at` (record-only fires). */
export function succeededAt(at: Date, count = 1): ScheduleStats {
  return { ...EMPTY_STATS, succeeded: count, lastSuccessAt: at };
}
