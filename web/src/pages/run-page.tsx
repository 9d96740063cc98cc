import { api, ok, type RunDetail, type Schedule, type Session } from '../api/client.js';
import { Show, useLoaded } from '../components/async.js';
import { Badge } from '../components/badge.js';
import { isActive, RUN_TONES } from '../format/schedule.js';
import { durationBetween, formatInZone } from '../format/time.js';
import { links } from '../router.js';

/** How many pages of a schedule's sessions the page reads looking for a run's session (the API lists, it does not look up one). */
const SESSION_PAGES = 10;

/** The session a run created or appended to, found in its schedule's session list; null once gone (history limit). */
async function findSession(scheduleId: string, sessionId: string): Promise<Session | null> {
  let cursor: string | undefined;
  for (let page = 0; page < SESSION_PAGES; page += 1) {
    const answer = await ok(api.GET('/schedule/{schedule_id}/sessions', { params: { path: { schedule_id: scheduleId }, query: { limit: 100, cursor } } }));
    const found = answer.sessions.find((session) => session.id === sessionId);
    if (found) return found;
    cursor = answer.next_cursor ?? undefined;
    if (!cursor) return null;
  }
  return null;
}

/** One run: what happened to it, its delivery attempts, usage and errors, and the session it made. */
export function RunPage({ scheduleId, runId }: { scheduleId: string; runId: string }) {
  const loaded = useLoaded(async () => {
    const [schedule, run] = await Promise.all([
      ok(api.GET('/schedule/{schedule_id}', { params: { path: { schedule_id: scheduleId } } })),
      ok(api.GET('/schedule/{schedule_id}/runs/{run_id}', { params: { path: { schedule_id: scheduleId, run_id: runId } } })),
    ]);
    const session = run.session_id ? await findSession(scheduleId, run.session_id) : null;
    return { schedule, run, session };
  }, [scheduleId, runId]);
  return (
    <main>
      <Show loaded={loaded}>
        {({ schedule, run, session }) => (
          <>
            <p class="breadcrumb">
              <a href={links.schedules()}>Schedules</a> / <a href={links.schedule(schedule.id)}>{schedule.data.name}</a> / run
            </p>
            <h1>
              Run of {formatInZone(run.scheduled_for, schedule.data.timezone, { seconds: true })} <Badge tone={RUN_TONES[run.status]}>{run.status}</Badge>
            </h1>
            <RunFacts schedule={schedule} run={run} />
            <Attempts run={run} />
            <section aria-labelledby="session-title">
              <h2 id="session-title">Session</h2>
              {!run.session_id && <p class="muted">This run created no session ({run.status}).</p>}
              {run.session_id && !session && <p class="muted">Session {run.session_id} is no longer kept.</p>}
              {session && <SessionView session={session} />}
            </section>
          </>
        )}
      </Show>
    </main>
  );
}

function RunFacts({ schedule, run }: { schedule: Schedule; run: RunDetail }) {
  const zone = schedule.data.timezone;
  const usage = run.usage as { input_tokens?: number; output_tokens?: number; cost_usd?: number | null } | null;
  const overrides = run.overrides as Record<string, unknown> | null;
  return (
    <dl class="overview">
      <div>
        <dt>Trigger</dt>
        <dd>
          {run.trigger}
          {run.replay_of && (
            <>
              {' '}
              of <a href={links.run(schedule.id, run.replay_of)}>an earlier run</a>
            </>
          )}
        </dd>
      </div>
      <div>
        <dt>Fired</dt>
        <dd>{formatInZone(run.fired_at, zone, { seconds: true })}</dd>
      </div>
      <div>
        <dt>Finished</dt>
        <dd>
          {formatInZone(run.finished_at, zone, { seconds: true })} <span class="muted">({durationBetween(run.fired_at, run.finished_at)})</span>
        </dd>
      </div>
      {run.timeout_at && isActive(run.status) && (
        <div>
          <dt>Times out</dt>
          <dd>{formatInZone(run.timeout_at, zone)}</dd>
        </div>
      )}
      {run.skip_reason && (
        <div>
          <dt>Skipped because</dt>
          <dd>{run.skip_reason.replace('_', ' ')}</dd>
        </div>
      )}
      {run.error && (
        <div>
          <dt>Error</dt>
          <dd class="run-error">{run.error}</dd>
        </div>
      )}
      <div>
        <dt>Usage</dt>
        <dd>
          {usage
            ? `${usage.input_tokens ?? 0} input and ${usage.output_tokens ?? 0} output tokens${typeof usage.cost_usd === 'number' ? `, $${usage.cost_usd.toFixed(4)}` : ''}`
            : 'not reported'}
        </dd>
      </div>
      {overrides && (
        <div>
          <dt>Overrides</dt>
          <dd>
            <code>{JSON.stringify(overrides)}</code>
          </dd>
        </div>
      )}
    </dl>
  );
}

function Attempts({ run }: { run: RunDetail }) {
  return (
    <section aria-labelledby="attempts-title">
      <h2 id="attempts-title">Delivery attempts</h2>
      {run.attempts.length === 0 ? (
        <p class="muted">None: the run was not handed to an agent runtime (record-only mode, or it did not fire).</p>
      ) : (
        <table>
          <caption class="visually-hidden">Attempts to hand the run to the agent runtime, in order</caption>
          <thead>
            <tr>
              <th scope="col">At</th>
              <th scope="col">Answer</th>
              <th scope="col">Took</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {run.attempts.map((attempt) => (
              <tr key={attempt.at}>
                <td>{formatInZone(attempt.at, undefined, { seconds: true })}</td>
                <td>{attempt.status_code ?? 'none'}</td>
                <td>{attempt.duration_ms} ms</td>
                <td>{attempt.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The session's messages, readable: who wrote each, when, and its text. */
function SessionView({ session }: { session: Session }) {
  const messages = session.state.context;
  return (
    <div class="session">
      <p class="muted small">
        Session <code>{session.id}</code> · agent {session.agent_id} · model {session.config.chat_model_config?.model ?? '—'} · created {formatInZone(session.created_at)}
      </p>
      {session.state.summary && <p>Summary: {session.state.summary}</p>}
      {messages.length === 0 ? (
        <p class="muted">No messages yet.</p>
      ) : (
        <ol class="messages" aria-label="Messages">
          {messages.map((message) => (
            <li key={message.id} class={`message from-${message.name === 'user' ? 'user' : 'agent'}`}>
              <p class="message-head">
                <strong>{message.name}</strong> <span class="muted small">{formatInZone(message.created_at)}</span>
              </p>
              {message.content.map((block) => (
                <p key={block.id} class="message-text">
                  {block.text}
                </p>
              ))}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
