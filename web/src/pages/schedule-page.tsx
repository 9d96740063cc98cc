import { useState } from 'preact/hooks';
import { api, messageOf, ok, type Run, type Schedule } from '../api/client.js';
import { recentRuns } from '../api/recent-runs.js';
import { Show, useLoaded } from '../components/async.js';
import { Badge } from '../components/badge.js';
import { ConfirmDialog } from '../components/confirm-dialog.js';
import { OutcomesChart } from '../components/outcomes.js';
import { budgetUse, describeWhen, isActive, RUN_TONES, runStatusInWords, scheduleState } from '../format/schedule.js';
import { durationBetween, formatInZone, VIEWER_ZONE } from '../format/time.js';
import { links, navigate } from '../router.js';
import { LastOutcome, NextFire } from './schedules-page.js';

const RUNS_PAGE = 20;
const CHART_DAYS = 14;
/** At most this many pages of 500 runs for the chart: a schedule that fires every minute has 20 160 in two weeks. */
const CHART_PAGES = 4;

type Action = { kind: 'pause' } | { kind: 'run' } | { kind: 'delete' } | { kind: 'cancel'; run: Run } | { kind: 'replay'; run: Run };

/** One schedule: what it is, when it fires next, how its runs went, and what a user can do to it. */
export function SchedulePage({ scheduleId }: { scheduleId: string }) {
  // Bumped after every action, so that everything shown is read again.
  const [version, setVersion] = useState(0);
  const [now] = useState(() => Date.now());
  const path = { schedule_id: scheduleId };
  const loaded = useLoaded(async () => {
    const [schedule, upcoming, recent] = await Promise.all([
      ok(api.GET('/schedule/{schedule_id}', { params: { path } })),
      ok(api.GET('/schedule/{schedule_id}/next-runs', { params: { path, query: { count: 10 } } })),
      recentRuns(scheduleId, new Date(now - CHART_DAYS * 86_400_000), CHART_PAGES),
    ]);
    return { schedule, upcoming: upcoming.next_runs, recent };
  }, [scheduleId, version]);
  const [action, setAction] = useState<Action | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  /** Runs one action: closes its dialog and reloads when it worked (unless it leaves the page), shows why in the dialog when not. */
  async function perform(work: () => Promise<string | void>, { reload = true } = {}) {
    setBusy(true);
    setActionError(null);
    try {
      const message = await work();
      setAction(null);
      setNotice(message ?? null);
      if (reload) setVersion((v) => v + 1);
    } catch (error) {
      if (action) setActionError(messageOf(error));
      else setNotice(messageOf(error));
    } finally {
      setBusy(false);
    }
  }
  /** What every action's dialog shares: open for its kind, busy while it runs, why it failed, cancel. */
  const dialog = (kind: Action['kind']) => ({ open: action?.kind === kind, busy, error: actionError, onCancel: () => setAction(null) });
  const open = (next: Action) => {
    setActionError(null);
    setAction(next);
  };

  return (
    <main>
      <Show loaded={loaded}>
        {({ schedule, upcoming, recent }) => {
          const state = scheduleState(schedule);
          const paused = !schedule.data.enabled;
          return (
            <>
              <p class="breadcrumb">
                <a href={links.schedules()}>Schedules</a> / {schedule.data.name}
              </p>
              <div class="title-row">
                <h1>
                  {schedule.data.name} <Badge tone={state.tone}>{state.label}</Badge>
                </h1>
                <div class="actions">
                  <a class="button" href={links.editSchedule(schedule.id)}>
                    Edit
                  </a>
                  <button type="button" onClick={() => open({ kind: 'run' })} disabled={paused}>
                    Run now
                  </button>
                  {paused ? (
                    <button type="button" onClick={() => perform(() => setEnabled(schedule, true).then(() => 'Resumed.'))}>
                      Resume
                    </button>
                  ) : (
                    <button type="button" onClick={() => open({ kind: 'pause' })}>
                      Pause
                    </button>
                  )}
                  <button type="button" class="danger" onClick={() => open({ kind: 'delete' })}>
                    Delete
                  </button>
                </div>
              </div>
              {notice && (
                <p class="notice" role="status">
                  {notice}
                </p>
              )}
              <Overview schedule={schedule} reason={state.reason} now={now} />

              <section aria-labelledby="upcoming-title">
                <h2 id="upcoming-title">Upcoming fires</h2>
                {upcoming.length === 0 ? (
                  <p class="muted">None planned{paused ? ' while it is paused' : ''}.</p>
                ) : (
                  <ol class="timeline">
                    {upcoming.map((fire) => (
                      <li key={fire.utc} class={fire.skipped ? 'skipped' : ''}>
                        <time dateTime={fire.utc}>{formatInZone(fire.utc, schedule.data.timezone)}</time>
                        {schedule.data.timezone !== VIEWER_ZONE && <span class="muted small"> {formatInZone(fire.utc, VIEWER_ZONE)} yours</span>}
                        {fire.skipped && <Badge tone="quiet">Skipped</Badge>}
                        <button
                          type="button"
                          class="small-button"
                          aria-label={`${fire.skipped ? 'Restore' : 'Skip'} the fire at ${formatInZone(fire.utc, schedule.data.timezone)}`}
                          onClick={() => perform(() => skip(schedule.id, fire.utc, !fire.skipped))}
                        >
                          {fire.skipped ? 'Restore' : 'Skip'}
                        </button>
                      </li>
                    ))}
                  </ol>
                )}
              </section>

              <section aria-labelledby="outcomes-title">
                <h2 id="outcomes-title">Outcomes</h2>
                <OutcomesChart recent={recent} now={now} days={CHART_DAYS} />
              </section>

              <RunHistory schedule={schedule} version={version} onCancel={(run) => open({ kind: 'cancel', run })} onReplay={(run) => open({ kind: 'replay', run })} />

              <ConfirmDialog
                title="Pause this schedule"
                confirmLabel="Pause"
                {...dialog('pause')}
                onConfirm={(form) => perform(() => setEnabled(schedule, false, String(form.get('note') ?? '').trim() || null).then(() => 'Paused.'))}
              >
                <p>It will not fire until it is resumed. Runs already under way go on.</p>
                <label for="pause-note">Note (why, until when)</label>
                <textarea id="pause-note" name="note" rows={2} maxLength={1000} />
              </ConfirmDialog>

              <ConfirmDialog
                title="Run now"
                confirmLabel="Run now"
                {...dialog('run')}
                onConfirm={(form) => perform(() => runNow(schedule, form))}
              >
                <p>Fires the schedule once, now. Anything filled in below applies to this run only.</p>
                <label for="run-description">Task</label>
                <textarea id="run-description" name="description" rows={3} placeholder={schedule.data.description} />
                <label for="run-model">Model</label>
                <input id="run-model" name="model" placeholder={schedule.data.chat_model_config.model} />
                <label for="run-permission">Permission mode</label>
                <select id="run-permission" name="permission_mode">
                  <option value="">As the schedule says ({schedule.data.permission_mode})</option>
                  {['default', 'accept_edits', 'explore', 'bypass', 'dont_ask'].map((mode) => (
                    <option key={mode} value={mode}>
                      {mode}
                    </option>
                  ))}
                </select>
              </ConfirmDialog>

              <ConfirmDialog
                title="Delete this schedule"
                confirmLabel="Delete"
                danger
                {...dialog('delete')}
                onConfirm={() =>
                  perform(
                    async () => {
                      await ok(api.DELETE('/schedule/{schedule_id}', { params: { path } }));
                      navigate(links.schedules());
                    },
                    { reload: false },
                  )
                }
              >
                <p>
                  “{schedule.data.name}” and the sessions and runs it made are deleted for good. <strong>This cannot be undone.</strong>
                </p>
              </ConfirmDialog>

              <ConfirmDialog
                title="Cancel this run"
                confirmLabel="Cancel the run"
                danger
                {...dialog('cancel')}
                onConfirm={() => action?.kind === 'cancel' && perform(() => cancel(schedule.id, action.run))}
              >
                <p>The run stops being tracked; if the agent runtime has it, it is told to stop. A cancelled run stays cancelled.</p>
              </ConfirmDialog>

              <ConfirmDialog
                title="Replay this run"
                confirmLabel="Replay"
                {...dialog('replay')}
                onConfirm={() => action?.kind === 'replay' && perform(() => replay(schedule.id, action.run))}
              >
                <p>Fires the schedule again now, with this run’s overrides, as the schedule is today.</p>
              </ConfirmDialog>
            </>
          );
        }}
      </Show>
    </main>
  );
}

function Overview({ schedule, reason, now }: { schedule: Schedule; reason: string | null; now: number }) {
  const stats = schedule.stats;
  const labels = Object.entries(schedule.data.labels as Record<string, string>);
  return (
    <dl class="overview">
      <div>
        <dt>Fires</dt>
        <dd>
          {describeWhen(schedule.data)} <span class="muted">({schedule.data.timezone})</span>
        </dd>
      </div>
      <div>
        <dt>Next fire</dt>
        <dd>
          <NextFire schedule={schedule} now={now} />
        </dd>
      </div>
      <div>
        <dt>Status</dt>
        <dd>
          {reason ?? 'firing as planned'}
          {schedule.data.pause_note && <div class="pause-note">Note: {schedule.data.pause_note}</div>}
        </dd>
      </div>
      <div>
        <dt>Last outcome</dt>
        <dd>
          <LastOutcome schedule={schedule} />
        </dd>
      </div>
      <div>
        <dt>Runs so far</dt>
        <dd>
          {stats.fires} fired: {stats.succeeded} succeeded, {stats.failed} failed, {stats.timed_out} timed out; {stats.skipped} skipped, {stats.missed} missed
        </dd>
      </div>
      <div>
        <dt>Budget</dt>
        <dd>{budgetUse(schedule) ?? 'none'}</dd>
      </div>
      <div>
        <dt>Agent and model</dt>
        <dd>
          {schedule.agent_id} · {schedule.data.chat_model_config.type}/{schedule.data.chat_model_config.model}
        </dd>
      </div>
      <div>
        <dt>Labels</dt>
        <dd>{labels.length === 0 ? 'none' : labels.map(([key, value]) => <code key={key} class="label">{`${key}=${value}`}</code>)}</dd>
      </div>
    </dl>
  );
}

/** The schedule's runs, newest first, a page at a time. */
function RunHistory({ schedule, version, onCancel, onReplay }: { schedule: Schedule; version: number; onCancel: (run: Run) => void; onReplay: (run: Run) => void }) {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const loaded = useLoaded(
    () => ok(api.GET('/schedule/{schedule_id}/runs', { params: { path: { schedule_id: schedule.id }, query: { limit: RUNS_PAGE, cursor } } })),
    [schedule.id, cursor, version],
  );
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      <Show loaded={loaded}>
        {(page) =>
          page.runs.length === 0 ? (
            <p class="muted">No runs yet.</p>
          ) : (
            <>
              <div class="table-scroll">
                <table class="runs">
                  <caption class="visually-hidden">Runs of {schedule.data.name}, newest first</caption>
                  <thead>
                    <tr>
                      <th scope="col">Scheduled for</th>
                      <th scope="col">Trigger</th>
                      <th scope="col">Status</th>
                      <th scope="col">Duration</th>
                      <th scope="col">Details</th>
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.runs.map((run) => (
                      <tr key={run.id}>
                        <td>
                          <a href={links.run(schedule.id, run.id)}>{formatInZone(run.scheduled_for, schedule.data.timezone, { seconds: true })}</a>
                        </td>
                        <td>{run.trigger}</td>
                        <td>
                          <Badge tone={RUN_TONES[run.status]}>{run.status}</Badge>
                        </td>
                        <td>{durationBetween(run.fired_at, run.finished_at)}</td>
                        <td class="small">{run.error ?? (run.skip_reason ? `skipped: ${run.skip_reason}` : run.replay_of ? 'a replay' : '')}</td>
                        <td class="row-actions">
                          {isActive(run.status) && (
                            <button type="button" class="small-button" onClick={() => onCancel(run)}>
                              Cancel
                            </button>
                          )}
                          {run.fired_at && (
                            <button type="button" class="small-button" onClick={() => onReplay(run)}>
                              Replay
                            </button>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {(cursors.length > 0 || page.next_cursor) && (
              <nav class="pager" aria-label="Run pages">
                <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
                  Newer runs
                </button>
                <button type="button" disabled={!page.next_cursor} onClick={() => page.next_cursor && setCursors([...cursors, page.next_cursor])}>
                  Older runs
                </button>
              </nav>
              )}
            </>
          )
        }
      </Show>
    </section>
  );
}

async function setEnabled(schedule: Schedule, enabled: boolean, note: string | null = null): Promise<void> {
  await ok(
    api.PATCH('/schedule/{schedule_id}', {
      params: { path: { schedule_id: schedule.id } },
      body: enabled ? { enabled: true } : { enabled: false, pause_note: note },
    }),
  );
}

async function runNow(schedule: Schedule, form: FormData): Promise<string> {
  const description = String(form.get('description') ?? '').trim();
  const model = String(form.get('model') ?? '').trim();
  const permission = String(form.get('permission_mode') ?? '');
  const overrides = {
    ...(description ? { description } : {}),
    ...(model ? { chat_model_config: { ...schedule.data.chat_model_config, model } } : {}),
    ...(permission ? { permission_mode: permission as Schedule['data']['permission_mode'] } : {}),
  };
  const fired = await ok(api.POST('/schedule/{schedule_id}/run', { params: { path: { schedule_id: schedule.id } }, body: overrides }));
  return `Fired now: ${runStatusInWords(fired.run.status)}.`;
}

async function skip(scheduleId: string, scheduledFor: string, skipping: boolean): Promise<string> {
  const options = { params: { path: { schedule_id: scheduleId } }, body: { scheduled_for: scheduledFor } };
  await ok(skipping ? api.POST('/schedule/{schedule_id}/skip', options) : api.DELETE('/schedule/{schedule_id}/skip', options));
  return skipping ? 'That fire time will be skipped.' : 'That fire time will fire again.';
}

async function cancel(scheduleId: string, run: Run): Promise<string> {
  await ok(api.POST('/schedule/{schedule_id}/runs/{run_id}/cancel', { params: { path: { schedule_id: scheduleId, run_id: run.id } } }));
  return 'The run is cancelled.';
}

async function replay(scheduleId: string, run: Run): Promise<string> {
  const fired = await ok(api.POST('/schedule/{schedule_id}/runs/{run_id}/replay', { params: { path: { schedule_id: scheduleId, run_id: run.id } } }));
  return `Replayed: ${runStatusInWords(fired.run.status)}.`;
}
