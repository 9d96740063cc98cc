// What the API documentation shows instead of "string": one user's weekday digest schedule, fired
// once by hand, as the service answers it. Ids are UUIDv7s minted at the example's own time, as the
// service mints them. Documentation only: nothing reads these at run time.

export const EXAMPLE_USER_ID = 'alice';
export const EXAMPLE_AGENT_ID = 'support-digest-agent';
export const EXAMPLE_SCHEDULE_ID = '019cad8f-ac00-78e8-bc16-57827067717c';
export const EXAMPLE_SESSION_ID = '019cad9a-3f20-7c1d-9b2e-4a5c6d7e8f90';
export const EXAMPLE_RUN_ID = '019cad9a-3f20-7c1d-9b2e-51a2b3c4d5e6';
export const EXAMPLE_MESSAGE_ID = '019cad9a-3f20-7c1d-9b2e-5f6a7b8c9d0e';
export const EXAMPLE_TEXT_BLOCK_ID = '019cad9a-3f20-7c1d-9b2e-6a1b2c3d4e5f';

export const EXAMPLE_CRON = '0 9 * * 1-5';
export const EXAMPLE_TIMEZONE = 'Asia/Shanghai';
export const EXAMPLE_DESCRIPTION = 'Summarise yesterday’s support tickets and post the digest to #support.';
/** The user message a fire appends: the schedule's description, wrapped. */
export const EXAMPLE_PROMPT = `<scheduled-task>\n${EXAMPLE_DESCRIPTION}\n</scheduled-task>`;

export const EXAMPLE_CHAT_MODEL_CONFIG = {
  type: 'openai',
  credential_id: 'cred-1',
  model: 'gpt-4o',
  parameters: { temperature: 0.2 },
};

/** When the schedule was created, when it was fired by hand, and its next cron fire (09:00 in Shanghai). */
export const EXAMPLE_TIMES = {
  created: '2026-03-02T08:00:00.000Z',
  fired: '2026-03-02T08:11:33.024Z',
  timeout: '2026-03-02T09:11:33.024Z',
  nextRun: '2026-03-03T01:00:00.000Z',
  nextRunLocal: '2026-03-03T09:00:00+08:00',
};

/** Path parameters by name, to write an operation's path as a request would have it. */
export const EXAMPLE_PATH_PARAMETERS: Record<string, string> = {
  schedule_id: EXAMPLE_SCHEDULE_ID,
  session_id: EXAMPLE_SESSION_ID,
  run_id: EXAMPLE_RUN_ID,
};

/** `/schedule/{schedule_id}/run` as a request for the example schedule. */
export function examplePath(template: string): string {
  return template.replace(/\{(\w+)\}/g, (placeholder, name: string) => EXAMPLE_PATH_PARAMETERS[name] ?? placeholder);
}
