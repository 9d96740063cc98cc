import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiProblem, type FieldError, messageOf, type NextRun, ok, type Schedule, type ScheduleBody } from '../api/client.js';
import { ErrorNote, Show, useLoaded } from '../components/async.js';
import { Field } from '../components/field.js';
import { describeWhen } from '../format/schedule.js';
import { formatInZone, knownZones, VIEWER_ZONE } from '../format/time.js';
import { links, navigate } from '../router.js';

type Kind = 'cron' | 'at' | 'every';

/** The form as typed: strings, so that what the user wrote reaches the API and its messages as it is. */
interface FormState {
  name: string;
  agent_id: string;
  description: string;
  kind: Kind;
  cron_expression: string;
  at: string;
  every_seconds: string;
  anchor_at: string;
  timezone: string;
  jitter_seconds: string;
  model_type: string;
  credential_id: string;
  model: string;
  permission_mode: string;
  overlap_policy: string;
  stateful: boolean;
  enabled: boolean;
  catchup_window_seconds: string;
  run_timeout_seconds: string;
  pause_after_failures: string;
  max_runs: string;
  budget_period: string;
  budget_max_runs: string;
  budget_max_tokens: string;
  budget_max_cost_usd: string;
  labels: string;
}

const NEW_SCHEDULE: FormState = {
  name: '',
  agent_id: '',
  description: '',
  kind: 'cron',
  cron_expression: '0 9 * * 1-5',
  at: '',
  every_seconds: '',
  anchor_at: '',
  timezone: VIEWER_ZONE,
  jitter_seconds: '',
  model_type: 'openai',
  credential_id: '',
  model: 'gpt-4o',
  permission_mode: 'dont_ask',
  overlap_policy: 'skip',
  stateful: false,
  enabled: true,
  catchup_window_seconds: '',
  run_timeout_seconds: '',
  pause_after_failures: '',
  max_runs: '',
  budget_period: '',
  budget_max_runs: '',
  budget_max_tokens: '',
  budget_max_cost_usd: '',
  labels: '',
};

const text = (value: unknown) => (value === null || value === undefined ? '' : String(value));

function fromSchedule(schedule: Schedule): FormState {
  const data = schedule.data;
  const budget = data.budget as { period: string; max_runs?: number | null; max_tokens?: number | null; max_cost_usd?: number | null } | null;
  return {
    ...NEW_SCHEDULE,
    name: data.name,
    agent_id: schedule.agent_id,
    description: data.description,
    kind: data.at ? 'at' : data.every_seconds ? 'every' : 'cron',
    cron_expression: text(data.cron_expression),
    at: text(data.at),
    every_seconds: text(data.every_seconds),
    anchor_at: text(data.anchor_at),
    timezone: data.timezone,
    jitter_seconds: data.jitter_seconds ? String(data.jitter_seconds) : '',
    model_type: data.chat_model_config.type,
    credential_id: data.chat_model_config.credential_id,
    model: data.chat_model_config.model,
    permission_mode: data.permission_mode,
    overlap_policy: data.overlap_policy,
    stateful: data.stateful,
    enabled: data.enabled,
    catchup_window_seconds: String(data.catchup_window_seconds),
    run_timeout_seconds: String(data.run_timeout_seconds),
    pause_after_failures: text(data.pause_after_failures),
    max_runs: text(data.max_runs),
    budget_period: budget?.period ?? '',
    budget_max_runs: text(budget?.max_runs),
    budget_max_tokens: text(budget?.max_tokens),
    budget_max_cost_usd: text(budget?.max_cost_usd),
    labels: Object.entries(data.labels as Record<string, string>)
      .map(([key, value]) => `${key}=${value}`)
      .join(', '),
  };
}

/** A number when the text is one; otherwise the text itself, for the API to name what is wrong with it. */
function numberOrText(value: string): number | string {
  return /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/** `team=growth, tier=gold` → {team: 'growth', tier: 'gold'}. */
function parseLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const [key, ...rest] = pair.split('=');
    labels[key.trim()] = rest.join('=').trim();
  }
  return labels;
}

/**
 * The body the form describes. On create, an empty optional field is left out (the API's default);
 * on edit, it is null where the API takes null (cleared), so that the form is the whole truth.
 */
function toBody(form: FormState, editing: boolean): Record<string, unknown> {
  const optional = (value: string) => (value.trim() === '' ? (editing ? null : undefined) : numberOrText(value));
  const whole = (value: string) => (value.trim() === '' ? undefined : numberOrText(value));
  const body: Record<string, unknown> = {
    name: form.name,
    agent_id: form.agent_id,
    description: form.description,
    timezone: form.timezone,
    jitter_seconds: whole(form.jitter_seconds) ?? (editing ? 0 : undefined),
    chat_model_config: { type: form.model_type, credential_id: form.credential_id, model: form.model },
    permission_mode: form.permission_mode,
    overlap_policy: form.overlap_policy,
    stateful: form.stateful,
    catchup_window_seconds: whole(form.catchup_window_seconds),
    run_timeout_seconds: whole(form.run_timeout_seconds),
    pause_after_failures: optional(form.pause_after_failures),
    max_runs: optional(form.max_runs),
    labels: parseLabels(form.labels),
    budget: form.budget_period
      ? {
          period: form.budget_period,
          max_runs: whole(form.budget_max_runs),
          max_tokens: whole(form.budget_max_tokens),
          max_cost_usd: whole(form.budget_max_cost_usd),
        }
      : editing
        ? null
        : undefined,
  };
  if (!editing) body.enabled = form.enabled;
  if (form.kind === 'cron') body.cron_expression = form.cron_expression;
  if (form.kind === 'at') body.at = form.at;
  if (form.kind === 'every') {
    body.every_seconds = numberOrText(form.every_seconds);
    if (form.anchor_at.trim()) body.anchor_at = form.anchor_at;
  }
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

/** Whether the API's error is about one of `fields` (or something inside it, such as one label's key). */
function isAbout(error: FieldError, fields: readonly string[]): boolean {
  return fields.some((field) => error.field === field || error.field.startsWith(`${field}.`));
}

/** The fields the form shows an error on; the API's errors about any other go in a list above the buttons. */
const FIELDS_SHOWN = ['name', 'agent_id', 'description', 'cron_expression', 'at', 'every_seconds', 'anchor_at', 'timezone', 'jitter_seconds', 'chat_model_config', 'permission_mode', 'overlap_policy', 'catchup_window_seconds', 'run_timeout_seconds', 'pause_after_failures', 'max_runs', 'budget', 'labels', 'stateful', 'enabled'];

/** The fields of `body` whose value differs from `before`'s. */
function changedFields(body: Record<string, unknown>, before: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(before[key])));
}

/** The API's name for a form field, where it differs from the form's. */
const API_FIELDS: Partial<Record<keyof FormState, string[]>> = {
  model_type: ['chat_model_config.type', 'chat_model_config'],
  model: ['chat_model_config.model', 'chat_model_config'],
  credential_id: ['chat_model_config.credential_id', 'chat_model_config'],
  budget_period: ['budget', 'budget.period'],
  budget_max_runs: ['budget', 'budget.max_runs'],
  budget_max_tokens: ['budget', 'budget.max_tokens'],
  budget_max_cost_usd: ['budget', 'budget.max_cost_usd'],
};

/** The API's fields that the form keeps under "Limits and more". */
const LIMIT_FIELDS = ['overlap_policy', 'catchup_window_seconds', 'run_timeout_seconds', 'pause_after_failures', 'max_runs', 'budget', 'labels', 'stateful', 'enabled'];

/** The fields that say when a schedule fires: the ones the preview reports on. */
const TIMING_FIELDS = ['cron_expression', 'at', 'every_seconds', 'anchor_at', 'timezone', 'jitter_seconds', 'started_at', 'ended_at'];

/** A create body for the preview: what the form says about timing, with stand-ins for what it does not matter to. */
function previewBody(form: FormState): ScheduleBody {
  const body = toBody(form, false);
  return {
    ...body,
    name: 'preview',
    agent_id: 'preview',
    description: '',
    chat_model_config: { type: 'openai', credential_id: 'preview', model: 'preview' },
    enabled: true,
    labels: {},
    budget: undefined,
  } as unknown as ScheduleBody;
}

type Preview = { state: 'idle' } | { state: 'ready'; runs: NextRun[]; zone: string } | { state: 'invalid'; errors: readonly FieldError[] } | { state: 'failed'; message: string };

/** When the form's schedule would fire, asked of the API (POST /schedule/preview) a moment after each change. */
function usePreview(form: FormState): Preview {
  const [preview, setPreview] = useState<Preview>({ state: 'idle' });
  const body = useMemo(() => JSON.stringify(previewBody(form)), [form]);
  useEffect(() => {
    let current = true;
    const timer = setTimeout(async () => {
      try {
        const answer = await ok(api.POST('/schedule/preview', { params: { query: { count: 5 } }, body: JSON.parse(body) as ScheduleBody }));
        if (current) setPreview({ state: 'ready', runs: answer.next_runs, zone: answer.timezone });
      } catch (error) {
        if (!current) return;
        if (error instanceof ApiProblem && error.status === 422) setPreview({ state: 'invalid', errors: error.errors.filter((e) => TIMING_FIELDS.includes(e.field)) });
        else setPreview({ state: 'failed', message: messageOf(error) });
      }
    }, 350);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [body]);
  return preview;
}

export function NewSchedulePage() {
  return <ScheduleForm initial={NEW_SCHEDULE} />;
}

export function EditSchedulePage({ scheduleId }: { scheduleId: string }) {
  // The version read (its ETag) goes back in If-Match, so that a save never overwrites a change made meanwhile.
  const loaded = useLoaded(async () => {
    const answer = api.GET('/schedule/{schedule_id}', { params: { path: { schedule_id: scheduleId } } });
    const schedule = await ok(answer);
    return { schedule, etag: (await answer).response.headers.get('etag') };
  }, [scheduleId]);
  return (
    <Show loaded={loaded}>
      {({ schedule, etag }) => <ScheduleForm initial={fromSchedule(schedule)} schedule={schedule} etag={etag} />}
    </Show>
  );
}

/** Create or edit a schedule: the API's 422 `errors[]` shown on their fields, and a live preview of the next fire times. */
function ScheduleForm({ initial, schedule, etag }: { initial: FormState; schedule?: Schedule; etag?: string | null }) {
  const editing = Boolean(schedule);
  const [form, setForm] = useState(initial);
  const [errors, setErrors] = useState<readonly FieldError[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const preview = usePreview(form);
  const limits = useRef<HTMLDetailsElement>(null);
  // Opened when the API names a field inside, so that its message is seen (and never closed for the user).
  useEffect(() => {
    if (limits.current && errors.some((error) => isAbout(error, LIMIT_FIELDS))) limits.current.open = true;
  }, [errors]);
  const zones = useMemo(knownZones, []);

  const set = (name: keyof FormState) => (event: Event) => {
    const target = event.currentTarget as HTMLInputElement;
    setForm({ ...form, [name]: target.type === 'checkbox' ? target.checked : target.value });
    // What the API said of this field was said of its old value.
    const fields = API_FIELDS[name] ?? [name];
    const rest = errors.filter((error) => !isAbout(error, fields));
    if (rest.length !== errors.length) {
      setErrors(rest);
      if (rest.length === 0) setFailure(null);
    }
  };
  /** The API's messages for a field (and for anything inside it, such as a label's key). */
  const errorFor = (...fields: string[]) =>
    errors
      .filter((error) => isAbout(error, fields))
      .map((error) => error.message)
      .join('; ') || undefined;
  const unplaced = errors.filter((error) => !isAbout(error, FIELDS_SHOWN));

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      if (schedule) {
        // Only what the user changed: the PATCH says what this edit did, and nothing else.
        const body = changedFields(toBody(form, true), toBody(initial, true)) as ScheduleBody;
        if (Object.keys(body).length > 0) {
          await ok(api.PATCH('/schedule/{schedule_id}', { params: { path: { schedule_id: schedule.id } }, headers: etag ? { 'if-match': etag } : {}, body }));
        }
        navigate(links.schedule(schedule.id));
      } else {
        const created = await ok(api.POST('/schedule', { body: toBody(form, false) as ScheduleBody }));
        navigate(links.schedule(created.schedule_id));
      }
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 412) {
        setFailure('The schedule changed since this form was opened: reload the page to edit the new version.');
      } else if (error instanceof ApiProblem && error.status === 422) {
        setErrors(error.errors);
        setFailure(error.errors.length === 0 ? error.detail : error.errors.length === 1 ? 'One field needs attention.' : `${error.errors.length} fields need attention.`);
        // Take the keyboard to the first field the API named.
        requestAnimationFrame(() => (document.querySelector('.field.invalid input, .field.invalid textarea, .field.invalid select') as HTMLElement | null)?.focus());
      } else setFailure(messageOf(error));
    } finally {
      setBusy(false);
    }
  }

  const input = (name: keyof FormState, label: string, options: { hint?: string; error?: string; type?: 'text' | 'number'; placeholder?: string; list?: string } = {}) => (
    <Field id={name} label={label} hint={options.hint} error={options.error ?? errorFor(name)}>
      {(describedBy, invalid) => (
        <input
          id={name}
          name={name}
          type={options.type ?? 'text'}
          value={form[name] as string}
          placeholder={options.placeholder}
          list={options.list}
          aria-describedby={describedBy}
          aria-invalid={invalid}
          onInput={set(name)}
        />
      )}
    </Field>
  );
  const select = (name: keyof FormState, label: string, choices: Array<[string, string]>, error?: string) => (
    <Field id={name} label={label} error={error ?? errorFor(name)}>
      {(describedBy, invalid) => (
        <select id={name} name={name} value={form[name] as string} aria-describedby={describedBy} aria-invalid={invalid} onChange={set(name)}>
          {choices.map(([value, words]) => (
            <option key={value} value={value}>
              {words}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
  const checkbox = (name: 'stateful' | 'enabled', label: string, hint: string) => (
    <div class="field checkbox">
      <input id={name} name={name} type="checkbox" checked={form[name]} onChange={set(name)} aria-describedby={`${name}-hint`} />
      <label for={name}>{label}</label>
      <p class="hint" id={`${name}-hint`}>
        {hint}
      </p>
    </div>
  );

  return (
    <main>
      <h1>{schedule ? `Edit “${schedule.data.name}”` : 'New schedule'}</h1>
      <form class="schedule-form" onSubmit={submit} noValidate>
        <fieldset>
          <legend>What it runs</legend>
          {input('name', 'Name')}
          {input('agent_id', 'Agent', { hint: 'The agent each fire runs.' })}
          <Field id="description" label="Task" hint="Sent to the agent on each fire." error={errorFor('description')}>
            {(describedBy, invalid) => (
              <textarea id="description" name="description" rows={3} value={form.description} aria-describedby={describedBy} aria-invalid={invalid} onInput={set('description')} />
            )}
          </Field>
          <div class="row">
            {input('model_type', 'Model provider', { error: errorFor('chat_model_config.type') })}
            {input('model', 'Model', { error: errorFor('chat_model_config.model') })}
            {input('credential_id', 'Credential', { error: errorFor('chat_model_config.credential_id', 'chat_model_config'), hint: 'ID of the stored model credential.' })}
          </div>
          {select('permission_mode', 'Permission mode', [
            ['dont_ask', 'Don’t ask'],
            ['default', 'Default'],
            ['accept_edits', 'Accept edits'],
            ['explore', 'Explore'],
            ['bypass', 'Bypass'],
          ])}
        </fieldset>

        <fieldset>
          <legend>When it fires</legend>
          <div class="radios" role="radiogroup" aria-label="Kind of schedule">
            {(
              [
                ['cron', 'On a cron schedule'],
                ['every', 'Every so many seconds'],
                ['at', 'Once'],
              ] as const
            ).map(([kind, words]) => (
              <label key={kind}>
                <input type="radio" name="kind" value={kind} checked={form.kind === kind} onChange={() => setForm({ ...form, kind })} /> {words}
              </label>
            ))}
          </div>
          {form.kind === 'cron' && input('cron_expression', 'Cron expression', { hint: 'minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5', placeholder: '0 9 * * 1-5' })}
          {form.kind === 'at' && input('at', 'At', { hint: 'An instant with its offset, e.g. 2027-01-15T09:00:00+08:00', placeholder: '2027-01-15T09:00:00Z' })}
          {form.kind === 'every' && (
            <div class="row">
              {input('every_seconds', 'Every (seconds)', { type: 'text', placeholder: '3600' })}
              {input('anchor_at', 'Anchored at', { hint: 'Optional: an instant the interval counts from.' })}
            </div>
          )}
          <div class="row">
            {input('timezone', 'Time zone', { list: 'zones', hint: 'IANA zone the cron expression is read in.' })}
            {input('jitter_seconds', 'Jitter (seconds)', { hint: 'Optional: spreads fires later by up to this much.' })}
          </div>
          <datalist id="zones">
            {zones.map((zone) => (
              <option key={zone} value={zone} />
            ))}
          </datalist>
          <PreviewPanel preview={preview} kind={form} />
        </fieldset>

        <details ref={limits}>
          <summary>Limits and more</summary>
          <fieldset>
            <legend class="visually-hidden">Limits and more</legend>
            {select('overlap_policy', 'While a run is still active, a fire', [
              ['skip', 'is skipped'],
              ['buffer_one', 'waits (one at most)'],
              ['allow', 'runs alongside'],
              ['replace', 'cancels the active run'],
            ])}
            <div class="row">
              {input('catchup_window_seconds', 'Catch-up window (seconds)', { placeholder: '300' })}
              {input('run_timeout_seconds', 'Run timeout (seconds)', { placeholder: '3600' })}
            </div>
            <div class="row">
              {input('pause_after_failures', 'Pause after failures in a row', { placeholder: 'never' })}
              {input('max_runs', 'Done after runs', { placeholder: 'never' })}
            </div>
            <div class="row">
              {select(
                'budget_period',
                'Budget period',
                [
                  ['', 'No budget'],
                  ['day', 'Day'],
                  ['week', 'Week'],
                  ['month', 'Month'],
                ],
                errorFor('budget'),
              )}
              {form.budget_period && input('budget_max_runs', 'Runs per period', { error: errorFor('budget.max_runs') })}
              {form.budget_period && input('budget_max_tokens', 'Tokens per period', { error: errorFor('budget.max_tokens') })}
              {form.budget_period && input('budget_max_cost_usd', 'US dollars per period', { error: errorFor('budget.max_cost_usd') })}
            </div>
            {input('labels', 'Labels', { hint: 'key=value pairs, separated by commas.', placeholder: 'team=growth, tier=gold' })}
            {checkbox('stateful', 'Stateful', 'Every fire appends to one session instead of starting a new one.')}
            {!editing && checkbox('enabled', 'Enabled', 'A disabled schedule never fires until it is resumed.')}
          </fieldset>
        </details>

        {unplaced.length > 0 && (
          <ul class="error-note" role="alert">
            {unplaced.map((error) => (
              <li key={error.field + error.message}>
                {error.field}: {error.message}
              </li>
            ))}
          </ul>
        )}
        <ErrorNote message={failure} />
        <div class="actions">
          <a class="button" href={schedule ? links.schedule(schedule.id) : links.schedules()}>
            Cancel
          </a>
          <button type="submit" class="primary" disabled={busy}>
            {schedule ? 'Save changes' : 'Create schedule'}
          </button>
        </div>
      </form>
    </main>
  );
}

function PreviewPanel({ preview, kind }: { preview: Preview; kind: FormState }) {
  const words = kind.kind === 'cron' ? describeWhen({ cron_expression: kind.cron_expression, at: null, every_seconds: null, timezone: kind.timezone }) : null;
  return (
    <section class="preview" aria-labelledby="preview-title" aria-live="polite">
      <h2 id="preview-title">Next fire times</h2>
      {words && <p>{words}</p>}
      {preview.state === 'idle' && <p class="muted">Working them out…</p>}
      {preview.state === 'failed' && <p class="muted">{preview.message}</p>}
      {preview.state === 'invalid' && (
        <ul class="muted">
          {preview.errors.length === 0 ? <li>Complete the fields above to see them.</li> : preview.errors.map((error) => <li key={error.field + error.message}>{error.message}</li>)}
        </ul>
      )}
      {preview.state === 'ready' &&
        (preview.runs.length === 0 ? (
          <p class="muted">It would not fire.</p>
        ) : (
          <ol>
            {preview.runs.map((run) => (
              <li key={run.utc}>
                <time dateTime={run.utc}>{formatInZone(run.utc, preview.zone)}</time>
                {preview.zone !== VIEWER_ZONE && <span class="muted"> · {formatInZone(run.utc, VIEWER_ZONE)} yours</span>}
              </li>
            ))}
          </ol>
        ))}
    </section>
  );
}
