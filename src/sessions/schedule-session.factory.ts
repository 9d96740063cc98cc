import { v7 as uuidv7 } from 'uuid';
import type { RunTrigger } from '../runs/run.model';
import type { Schedule } from '../schedules/schedule.model';
import type { FireWrite } from '../storage/storage.base';
import type { Message, Session } from './session.model';

/** The one session every fire of a stateful schedule appends to. */
export function statefulSessionId(scheduleId: string): string {
  return `${scheduleId}_stateful`;
}

/** The prompt a fire sends the agent: the schedule's description, wrapped as a scheduled task. */
export function scheduledTaskMessage(schedule: Schedule, firedAt: Date): Message {
  const at = firedAt.toISOString();
  return {
    name: 'user',
    content: [{ type: 'text', text: `<scheduled-task>\n${schedule.description}\n</scheduled-task>`, id: uuidv7() }],
    id: uuidv7(),
    metadata: {},
    created_at: at,
    finished_at: at,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

/**
 * What one fire of `schedule` at `firedAt` writes: a fresh session, or the stateful one with the
 * prompt appended, and its run record (for the cron time `scheduledFor`).
 */
export function fireWrite(
  schedule: Schedule,
  firedAt: Date,
  trigger: RunTrigger = 'manual',
  scheduledFor: Date = firedAt,
): FireWrite {
  const message = scheduledTaskMessage(schedule, firedAt);
  const id = schedule.stateful ? statefulSessionId(schedule.id) : uuidv7();
  const session: Session = {
    id,
    userId: schedule.userId,
    agentId: schedule.agentId,
    config: {
      workspace_id: null,
      name: schedule.name,
      chat_model_config: structuredClone(schedule.chatModelConfig),
      fallback_chat_model_config: null,
    },
    source: 'schedule',
    sourceScheduleId: schedule.id,
    teamId: null,
    state: {
      session_id: id,
      summary: '',
      context: [message],
      reply_id: null,
      cur_iter: 0,
      permission_context: {
        mode: schedule.permissionMode,
        working_directories: {},
        allow_rules: {},
        deny_rules: {},
        ask_rules: {},
      },
      tool_context: { max_cache_files: 100, max_cache_bytes: 25000, read_file_cache: [], activated_groups: [] },
      tasks_context: { tasks: [] },
    },
    createdAt: firedAt,
    updatedAt: firedAt,
  };
  const run = {
    id: uuidv7(),
    scheduleId: schedule.id,
    userId: schedule.userId,
    sessionId: id,
    trigger,
    scheduledFor,
    firedAt,
    status: 'succeeded' as const,
    error: null,
  };
  return { session, stateful: schedule.stateful, message, firedAt, run };
}
