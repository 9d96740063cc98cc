import { useState } from 'preact/hooks';
import { api, ok, type Schedule } from '../api/client.js';
import { type RecentRuns, recentRuns } from '../api/recent-runs.js';
import { Show, useLoaded } from '../components/async.js';
import { Badge } from '../components/badge.js';
import { OutcomeStrip } from '../components/outcomes.js';
import { budgetUse, describeWhen, scheduleState } from '../format/schedule.js';
import { formatInZone, fromNow, VIEWER_ZONE } from '../format/time.js';
import { links, navigate } from '../router.js';

const PAGE_SIZE = 20;
const STATUSES = ['active', 'paused', 'failing', 'budget_exhausted'] as const;
type StatusFilter = (typeof STATUSES)[number];

/** `team=growth, env` → each selector on its own, as the API takes them (every one must match). */
function labelSelectors(text: string | undefined): string[] | undefined {
  const selectors = text?.split(',').map((part) => part.trim()).filter(Boolean) ?? [];
  return selectors.length > 0 ? selectors : undefined;
}

interface Row {
  schedule: Schedule;
  lastDay: RecentRuns;
}

/** The user's schedules: filters, one page at a time, each with when it fires next and how its last day went. */
export function SchedulesPage({ query }: { query: URLSearchParams }) {
  const status = (STATUSES as readonly string[]).includes(query.get('status') ?? '') ? (query.get('status') as StatusFilter) : undefined;
  const agentId = query.get('agent_id') || undefined;
  const label = query.get('label') || undefined;
  // The cursors of the pages before this one, so that "Previous" goes back without the API keeping state.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const [now] = useState(() => Date.now());

  const loaded = useLoaded(async () => {
    const page = await ok(api.GET('/schedule', { params: { query: { limit: PAGE_SIZE, cursor, status, agent_id: agentId, label: labelSelectors(label) } } }));
    const since = new Date(now - 24 * 3_600_000);
    const rows: Row[] = await Promise.all(page.schedules.map(async (schedule) => ({ schedule, lastDay: await recentRuns(schedule.id, since, 1) })));
    return { rows, total: page.total, nextCursor: page.next_cursor ?? null };
  }, [cursor, status, agentId, label, now]);

  function filter(event: SubmitEvent) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const next = new URLSearchParams();
    for (const name of ['status', 'agent_id', 'label']) {
      const value = String(form.get(name) ?? '').trim();
      if (value) next.set(name, value);
    }
    setCursors([]);
    navigate(links.schedules(next));
  }

  return (
    <main>
      <div class="title-row">
        <h1>Schedules</h1>
        <a class="button primary" href={links.newSchedule()}>
          New schedule
        </a>
      </div>
      <form class="filters" onSubmit={filter} aria-label="Filter schedules">
        <label>
          Status
          <select name="status" defaultValue={status ?? ''}>
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="paused">Paused</option>
            <option value="failing">Failing</option>
            <option value="budget_exhausted">Budget used up</option>
          </select>
        </label>
        <label>
          Agent
          <input name="agent_id" defaultValue={agentId ?? ''} placeholder="agent id" />
        </label>
        <label>
          Labels
          <input name="label" defaultValue={label ?? ''} placeholder="team=growth, env" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Show loaded={loaded}>
        {({ rows, total, nextCursor }) => (
          <>
            <p class="muted" aria-live="polite">
              {total === 0 ? 'No schedules match.' : `${total} schedule${total === 1 ? '' : 's'}`}
              {total === 0 && !status && !agentId && !label && (
                <>
                  {' '}
                  <a href={links.newSchedule()}>Create your first schedule.</a>
                </>
              )}
            </p>
            {rows.length > 0 && <ScheduleTable rows={rows} now={now} />}
            {(cursors.length > 0 || nextCursor) && (
            <nav class="pager" aria-label="Pages">
              <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
                Previous page
              </button>
              <button type="button" disabled={!nextCursor} onClick={() => nextCursor && setCursors([...cursors, nextCursor])}>
                Next page
              </button>
            </nav>
            )}
          </>
        )}
      </Show>
    </main>
  );
}

function ScheduleTable({ rows, now }: { rows: Row[]; now: number }) {
  return (
    <div class="table-scroll">
      <table>
        <caption class="visually-hidden">Schedules, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Fires</th>
            <th scope="col">Next fire</th>
            <th scope="col">Status</th>
            <th scope="col">Last outcome</th>
            <th scope="col">Last 24 h</th>
            <th scope="col">Budget</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ schedule, lastDay }) => {
            const state = scheduleState(schedule);
            return (
              <tr key={schedule.id}>
                <th scope="row">
                  <a href={links.schedule(schedule.id)}>{schedule.data.name}</a>
                  <div class="muted small">{schedule.agent_id}</div>
                </th>
                <td>
                  {describeWhen(schedule.data)}
                  <div class="muted small">{schedule.data.timezone}</div>
                </td>
                <td>
                  <NextFire schedule={schedule} now={now} />
                </td>
                <td>
                  <Badge tone={state.tone}>{state.label}</Badge>
                  {state.reason && <div class="small">{state.reason}</div>}
                  {schedule.data.pause_note && <div class="small muted">“{schedule.data.pause_note}”</div>}
                </td>
                <td>
                  <LastOutcome schedule={schedule} />
                </td>
                <td>
                  <OutcomeStrip recent={lastDay} now={now} />
                </td>
                <td>{budgetUse(schedule) ?? <span class="muted">none</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The next fire in the schedule's zone, and in the viewer's when it differs. */
export function NextFire({ schedule, now }: { schedule: Schedule; now: number }) {
  const at = schedule.next_run_at;
  if (!at) return <span class="muted">not planned</span>;
  return (
    <>
      <time dateTime={at}>{formatInZone(at, schedule.data.timezone)}</time>
      {schedule.data.timezone !== VIEWER_ZONE && <div class="small">{formatInZone(at, VIEWER_ZONE)} (yours)</div>}
      <div class="muted small">{fromNow(at, now)}</div>
    </>
  );
}

/** The later of the last success and the last failure. */
export function LastOutcome({ schedule }: { schedule: Schedule }) {
  const { last_success_at: success, last_failure_at: failure, last_error: error } = schedule.stats;
  if (!success && !failure) return <span class="muted">no run yet</span>;
  const failed = Boolean(failure && (!success || failure > success));
  return (
    <>
      <Badge tone={failed ? 'bad' : 'good'}>{failed ? 'Failed' : 'Succeeded'}</Badge>
      <div class="muted small">{fromNow(failed ? failure : success)}</div>
      {failed && error && <div class="small">{error}</div>}
    </>
  );
}
