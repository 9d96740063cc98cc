// The README's walk-through through a typed client generated from the published contract:
// `schedule-api.d.ts` is what `openapi-typescript docs/openapi.json` writes (default options;
// `npm run openapi` regenerates both), and openapi-fetch sends the requests. Every path, parameter,
// body and answer below is checked against the contract by the compiler.
//
//   SERVICE_URL=http://127.0.0.1:3000 USER_ID=alice node examples/typed-client.ts    (Node 24: types are stripped)
//
// A test runs it against the service (test/typed-client.e2e-spec.ts).
import createClient from 'openapi-fetch';
import type { components, paths } from './schedule-api.js';

type Schedule = components['schemas']['ScheduleResponse'];
type Session = components['schemas']['SessionResponse'];

export interface WalkThrough {
  created: Schedule;
  renamed: Schedule;
  sessions: Session[];
  nextRuns: string[];
  /** What another user sees of the schedule: the problem's type. */
  strangerSees: string;
}

/** Creates a schedule, runs it by hand, lists its session and its next fire times, as the README does with curl. */
export async function walkThrough(baseUrl: string, userId: string, stranger = 'bob'): Promise<WalkThrough> {
  const client = createClient<paths>({ baseUrl, headers: { 'x-user-id': userId } });

  // Four fields are required; everything else has a value when omitted.
  const create = await client.POST('/schedule', {
    body: {
      name: 'Morning digest',
      description: "Summarise yesterday's tickets.",
      cron_expression: '0 9 * * 1-5',
      timezone: 'Asia/Shanghai',
      agent_id: 'agent-1',
      chat_model_config: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o' },
    },
  });
  if (!create.data) throw new Error(`create: ${create.response.status} ${JSON.stringify(create.error)}`);
  const params = { path: { schedule_id: create.data.schedule_id } };

  const read = await client.GET('/schedule/{schedule_id}', { params });
  if (!read.data) throw new Error(`read: ${read.response.status}`);

  // A PATCH sends only what changes.
  const patch = await client.PATCH('/schedule/{schedule_id}', { params, body: { name: 'Weekday digest' } });
  if (!patch.data) throw new Error(`patch: ${patch.response.status} ${JSON.stringify(patch.error)}`);

  const run = await client.POST('/schedule/{schedule_id}/run', { params });
  if (!run.data) throw new Error(`run: ${run.response.status} ${JSON.stringify(run.error)}`);

  const sessions = await client.GET('/schedule/{schedule_id}/sessions', { params });
  if (!sessions.data) throw new Error(`sessions: ${sessions.response.status}`);

  const next = await client.GET('/schedule/{schedule_id}/next-runs', { params: { ...params, query: { count: 2 } } });
  if (!next.data) throw new Error(`next-runs: ${next.response.status}`);

  const other = createClient<paths>({ baseUrl, headers: { 'x-user-id': stranger } });
  const hidden = await other.GET('/schedule/{schedule_id}/sessions', { params });
  if (!hidden.error) throw new Error(`another user read the sessions: ${hidden.response.status}`);

  return {
    created: read.data,
    renamed: patch.data,
    sessions: sessions.data.sessions,
    nextRuns: next.data.next_runs.map((fire) => fire.local),
    strangerSees: hidden.error.type,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await walkThrough(process.env.SERVICE_URL ?? 'http://127.0.0.1:3000', process.env.USER_ID ?? 'alice');
  console.log(JSON.stringify({ ...result, sessions: result.sessions.map((s) => s.id) }, null, 2));
}
