import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import {
  appendKeepingNewest,
  decideFire,
  fireWrite,
  jsonTextBytes,
  keepNewestWithin,
  NO_ACTIVITY,
  scheduledTaskMessage,
  statefulSessionId,
  unfiredRun,
} from './fire.js';
import { aSchedule } from '../../test/support/builders.js';
import type { Schedule } from './schedule.js';

/** A weekday schedule whose model config holds a nested value; override what a test is about. */
const schedule = (overrides: Partial<Schedule> = {}): Schedule =>
  aSchedule({
    id: 'sched-1',
    startedAt: null,
    chatModelConfig: { type: 'openai', credential_id: 'cred-1', model: 'gpt-4o', parameters: { temperature: 0.2, stop: ['END'] } },
    ...overrides,
  });

const FIRED_AT = new Date('2026-05-04T09:00:07.250Z');
const SCHEDULED_FOR = new Date('2026-05-04T09:00:00.000Z');
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('fireWrite', () => {
  it('creates a fresh session, with a new id each fire, for a stateless schedule', () => {
    const s = schedule({ stateful: false });
    const a = fireWrite(s, FIRED_AT, 'cron', SCHEDULED_FOR);
    const b = fireWrite(s, FIRED_AT, 'cron', SCHEDULED_FOR);

    assert.equal(a.stateful, false);
    assert.match(a.session.id, UUID_V7);
    assert.notEqual(a.session.id, b.session.id);
    assert.equal(a.session.state.session_id, a.session.id);
    assert.equal(a.run.sessionId, a.session.id);
  });

  it('uses the one `{id}_stateful` session for a stateful schedule', () => {
    const s = schedule({ stateful: true });
    const a = fireWrite(s, FIRED_AT, 'cron', SCHEDULED_FOR);
    const b = fireWrite(s, new Date('2026-05-05T09:00:00Z'), 'cron');

    assert.equal(statefulSessionId('sched-1'), 'sched-1_stateful');
    assert.equal(a.stateful, true);
    assert.equal(a.session.id, 'sched-1_stateful');
    assert.equal(b.session.id, 'sched-1_stateful');
    assert.equal(a.session.state.session_id, 'sched-1_stateful');
    assert.equal(a.run.sessionId, 'sched-1_stateful');
    assert.notEqual(a.run.id, b.run.id);
  });

  it('builds the session from the schedule', () => {
    const s = schedule({ permissionMode: 'accept_edits' });
    const { session, message } = fireWrite(s, FIRED_AT, 'cron', SCHEDULED_FOR);

    assert.deepEqual(session, {
      id: session.id,
      userId: 'alice',
      agentId: 'agent-1',
      config: {
        workspace_id: null,
        name: 'Daily digest',
        chat_model_config: {
          type: 'openai',
          credential_id: 'cred-1',
          model: 'gpt-4o',
          parameters: { temperature: 0.2, stop: ['END'] },
        },
        fallback_chat_model_config: null,
      },
      source: 'schedule',
      sourceScheduleId: 'sched-1',
      teamId: null,
      state: {
        session_id: session.id,
        summary: '',
        context: [message],
        reply_id: null,
        cur_iter: 0,
        permission_context: {
          mode: 'accept_edits',
          working_directories: {},
          allow_rules: {},
          deny_rules: {},
          ask_rules: {},
        },
        tool_context: { max_cache_files: 100, max_cache_bytes: 25000, read_file_cache: [], activated_groups: [] },
        tasks_context: { tasks: [] },
      },
      createdAt: FIRED_AT,
      updatedAt: FIRED_AT,
    });
  });

  it('copies the chat model config rather than sharing it with the schedule', () => {
    const s = schedule();
    const { session } = fireWrite(s, FIRED_AT);

    assert.notEqual(session.config.chat_model_config, s.chatModelConfig);
    assert.notEqual(session.config.chat_model_config.parameters, s.chatModelConfig.parameters);
    session.config.chat_model_config.model = 'changed';
    (session.config.chat_model_config.parameters.stop as string[]).push('MORE');
    assert.equal(s.chatModelConfig.model, 'gpt-4o');
    assert.deepEqual(s.chatModelConfig.parameters, { temperature: 0.2, stop: ['END'] });
  });

  it('sends the description wrapped as a scheduled task', () => {
    const s = schedule({ description: 'Line one\nLine <two> & "three"' });
    const { message, session } = fireWrite(s, FIRED_AT);

    assert.deepEqual(message, {
      name: 'user',
      content: [
        { type: 'text', text: '<scheduled-task>\nLine one\nLine <two> & "three"\n</scheduled-task>', id: message.content[0].id },
      ],
      id: message.id,
      metadata: {},
      created_at: '2026-05-04T09:00:07.250Z',
      finished_at: '2026-05-04T09:00:07.250Z',
      usage: { input_tokens: 0, output_tokens: 0 },
    });
    assert.match(message.id, UUID_V7);
    assert.match(message.content[0].id, UUID_V7);
    assert.notEqual(message.id, message.content[0].id);
    assert.equal(session.state.context.length, 1);
    assert.deepEqual(session.state.context[0], message);
  });

  it('records a succeeded run for the cron time it fired for, finished as it fired, when only recording', () => {
    const { run, firedAt, session, dispatch } = fireWrite(schedule(), FIRED_AT, 'catchup', SCHEDULED_FOR);
    assert.deepEqual(run, {
      id: run.id,
      scheduleId: 'sched-1',
      userId: 'alice',
      sessionId: session.id,
      trigger: 'catchup',
      scheduledFor: SCHEDULED_FOR,
      firedAt: FIRED_AT,
      status: 'succeeded',
      error: null,
      skipReason: null,
      finishedAt: FIRED_AT,
      timeoutAt: null,
      usage: null,
      overrides: null,
      replayOf: null,
      gaveUp: false,
    });
    assert.match(run.id, UUID_V7);
    assert.notEqual(run.id, session.id);
    assert.equal(firedAt, FIRED_AT);
    assert.equal(dispatch, null);
  });

  it('records a pending run that times out after the run timeout when dispatching', () => {
    const s = schedule({ overlapPolicy: 'buffer_one', runTimeoutSeconds: 90 });
    const { run, dispatch } = fireWrite(s, FIRED_AT, 'cron', SCHEDULED_FOR, true);
    assert.equal(run.status, 'pending');
    assert.equal(run.finishedAt, null);
    assert.deepEqual(run.timeoutAt, new Date(FIRED_AT.getTime() + 90_000));
    assert.deepEqual(dispatch, { overlapPolicy: 'buffer_one', runTimeoutSeconds: 90 });
  });

  it('defaults to a manual run scheduled for when it fired', () => {
    const { run } = fireWrite(schedule(), FIRED_AT);
    assert.equal(run.trigger, 'manual');
    assert.equal(run.scheduledFor.getTime(), FIRED_AT.getTime());
    assert.equal(run.firedAt?.getTime(), FIRED_AT.getTime());
  });

  it('gives each fire its own message and run ids', () => {
    const s = schedule();
    const a = fireWrite(s, FIRED_AT);
    const b = fireWrite(s, FIRED_AT);
    assert.notEqual(a.message.id, b.message.id);
    assert.notEqual(a.message.content[0].id, b.message.content[0].id);
    assert.notEqual(a.run.id, b.run.id);
  });

  it('scheduledTaskMessage stamps the message with the fire time', () => {
    const message = scheduledTaskMessage(schedule({ description: 'x' }), new Date('2026-01-02T03:04:05.006Z'));
    assert.equal(message.content[0].text, '<scheduled-task>\nx\n</scheduled-task>');
    assert.equal(message.created_at, '2026-01-02T03:04:05.006Z');
    assert.equal(message.finished_at, '2026-01-02T03:04:05.006Z');
  });
});

describe('appendKeepingNewest', () => {
  const byCount = (maxMessages: number) => ({ maxMessages, maxBytes: Infinity });
  const size = (n: number) => n;

  it('appends while under the bound', () => {
    const list = [1, 2];
    appendKeepingNewest(list, 3, byCount(3), size);
    assert.deepEqual(list, [1, 2, 3]);
  });

  it('drops the oldest at the bound, keeping the newest', () => {
    const list = [1, 2, 3];
    appendKeepingNewest(list, 4, byCount(3), size);
    assert.deepEqual(list, [2, 3, 4]);
  });

  it('drops as many as needed when the list is already past a lowered bound', () => {
    const list = [1, 2, 3, 4, 5];
    appendKeepingNewest(list, 6, byCount(2), size);
    assert.deepEqual(list, [5, 6]);
    appendKeepingNewest(list, 7, byCount(1), size);
    assert.deepEqual(list, [7]);
  });

  it('drops the oldest until the sizes of those left fit the byte bound', () => {
    const list = [5, 4, 3];
    appendKeepingNewest(list, 2, { maxMessages: 10, maxBytes: 9 }, size);
    assert.deepEqual(list, [4, 3, 2]);
    appendKeepingNewest(list, 6, { maxMessages: 10, maxBytes: 9 }, size);
    assert.deepEqual(list, [2, 6]);
  });

  it('keeps a run that fills the byte bound exactly', () => {
    const list = [1, 4, 3];
    appendKeepingNewest(list, 2, { maxMessages: 10, maxBytes: 9 }, size);
    assert.deepEqual(list, [4, 3, 2]);
  });

  it('holds whichever bound is reached first', () => {
    const list = [1, 1, 1, 1];
    appendKeepingNewest(list, 1, { maxMessages: 3, maxBytes: 100 }, size);
    assert.deepEqual(list, [1, 1, 1]);
    appendKeepingNewest(list, 99, { maxMessages: 3, maxBytes: 100 }, size);
    assert.deepEqual(list, [1, 99]);
  });

  it('keeps the newest alone when it is over the byte bound by itself', () => {
    const list = [1, 2];
    appendKeepingNewest(list, 50, { maxMessages: 10, maxBytes: 9 }, size);
    assert.deepEqual(list, [50]);
  });
});

describe('keepNewestWithin', () => {
  const size = (n: number) => n;

  it('measures only from the newest back to the first that does not fit', () => {
    const measured: number[] = [];
    const list = [9, 9, 9, 1, 2, 3];
    keepNewestWithin(list, { maxMessages: 10, maxBytes: 8 }, (n) => {
      measured.push(n);
      return n;
    });
    assert.deepEqual(list, [1, 2, 3]);
    assert.deepEqual(measured, [3, 2, 1, 9]);
  });

  it('leaves a list within both bounds as it is, and an empty one empty', () => {
    const list = [1, 2, 3];
    keepNewestWithin(list, { maxMessages: 3, maxBytes: 6 }, size);
    assert.deepEqual(list, [1, 2, 3]);
    const empty: number[] = [];
    keepNewestWithin(empty, { maxMessages: 3, maxBytes: 6 }, size);
    assert.deepEqual(empty, []);
  });
});

describe('jsonTextBytes', () => {
  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    assert.equal(jsonTextBytes('"abc"'), 5);
    assert.equal(jsonTextBytes('"é"'), 4);
    assert.equal(jsonTextBytes('"😀"'), 6);
  });
});

describe('unfiredRun', () => {
  it('records a cron fire time that did not fire, without a session or fire time', () => {
    const run = unfiredRun(schedule(), SCHEDULED_FOR, 'missed', 'not fired: 600 s late');
    assert.deepEqual(run, {
      id: run.id,
      scheduleId: 'sched-1',
      userId: 'alice',
      sessionId: null,
      trigger: 'cron',
      scheduledFor: SCHEDULED_FOR,
      firedAt: null,
      status: 'missed',
      error: 'not fired: 600 s late',
      skipReason: null,
      finishedAt: null,
      timeoutAt: null,
      usage: null,
      overrides: null,
      replayOf: null,
      gaveUp: false,
    });
    assert.match(run.id, UUID_V7);
  });

  it('records a failed fire the same way, with a fresh id each time', () => {
    const a = unfiredRun(schedule(), SCHEDULED_FOR, 'failed', 'cannot compute the fire times');
    const b = unfiredRun(schedule(), SCHEDULED_FOR, 'failed', 'cannot compute the fire times');
    assert.equal(a.status, 'failed');
    assert.equal(a.error, 'cannot compute the fire times');
    assert.equal(a.sessionId, null);
    assert.equal(a.firedAt, null);
    assert.notEqual(a.id, b.id);
  });
});

describe('decideFire', () => {
  const dispatched = (overlapPolicy: Schedule['overlapPolicy']) =>
    fireWrite(schedule({ overlapPolicy }), FIRED_AT, 'cron', SCHEDULED_FOR, true);
  const active = { activeRunId: 'run-active', waitingRunId: null };
  const activeAndWaiting = { activeRunId: 'run-active', waitingRunId: 'run-waiting' };

  it('records a fire as it is when only recording, whatever the policy and the activity', () => {
    const fire = fireWrite(schedule({ overlapPolicy: 'skip' }), FIRED_AT);
    assert.deepEqual(decideFire(fire, activeAndWaiting), { kind: 'record', fire });
  });

  it('dispatches at once when nothing is active, under every policy', () => {
    for (const policy of ['skip', 'buffer_one', 'allow'] as const) {
      const fire = dispatched(policy);
      assert.deepEqual(decideFire(fire, NO_ACTIVITY), { kind: 'dispatch', fire, outboxAvailableAt: FIRED_AT });
    }
  });

  it('skips under `skip` while a run is active, with a skipped record that names it and has no session', () => {
    const fire = dispatched('skip');
    const decided = decideFire(fire, active);
    assert.equal(decided.kind, 'skip');
    if (decided.kind !== 'skip') return;
    assert.equal(decided.blockingRunId, 'run-active');
    assert.deepEqual(decided.run, {
      ...fire.run,
      sessionId: null,
      firedAt: null,
      status: 'skipped',
      error: 'skipped: run run-active of this schedule was still active (overlap_policy skip)',
      skipReason: 'overlap',
      finishedAt: null,
      timeoutAt: null,
    });
  });

  it('lets one fire wait under `buffer_one`, held and without a timeout, and skips the next', () => {
    const fire = dispatched('buffer_one');
    const waiting = decideFire(fire, active);
    assert.equal(waiting.kind, 'dispatch');
    if (waiting.kind !== 'dispatch') return;
    assert.equal(waiting.outboxAvailableAt, null);
    assert.equal(waiting.fire.run.timeoutAt, null);
    assert.equal(waiting.fire.run.status, 'pending');
    assert.notEqual(fire.run.timeoutAt, null, 'the fire given is not changed');

    const next = decideFire(dispatched('buffer_one'), activeAndWaiting);
    assert.equal(next.kind, 'skip');
    if (next.kind === 'skip') assert.equal(next.blockingRunId, 'run-active');
  });

  it('names the waiting run when it is the only one blocking (the active one timed out)', () => {
    for (const policy of ['skip', 'buffer_one'] as const) {
      const decided = decideFire(dispatched(policy), { activeRunId: null, waitingRunId: 'run-waiting' });
      assert.equal(decided.kind, 'skip', policy);
      if (decided.kind === 'skip') assert.equal(decided.blockingRunId, 'run-waiting', policy);
    }
  });

  it('skips for an exhausted budget first, whatever the mode, the policy and the activity, naming when it resets', () => {
    const resetsAt = new Date('2026-05-07T00:00:00.000Z');
    for (const fire of [fireWrite(schedule({ overlapPolicy: 'allow' }), FIRED_AT), dispatched('allow'), dispatched('skip')]) {
      const decided = decideFire(fire, NO_ACTIVITY, resetsAt);
      assert.equal(decided.kind, 'skip');
      if (decided.kind !== 'skip') return;
      assert.deepEqual([decided.blockingRunId, decided.budgetResetsAt], [null, resetsAt]);
      assert.deepEqual([decided.run.status, decided.run.skipReason, decided.run.sessionId, decided.run.id], ['skipped', 'budget_exhausted', null, fire.run.id]);
    }
  });

  it('dispatches under `replace`, naming the active and the waiting runs to cancel', () => {
    const fire = dispatched('replace');
    assert.deepEqual(decideFire(fire, activeAndWaiting), { kind: 'dispatch', fire, outboxAvailableAt: FIRED_AT, replaces: ['run-active', 'run-waiting'] });
    assert.deepEqual(decideFire(fire, NO_ACTIVITY), { kind: 'dispatch', fire, outboxAvailableAt: FIRED_AT });
  });

  it('always dispatches under `allow`', () => {
    const fire = dispatched('allow');
    assert.deepEqual(decideFire(fire, activeAndWaiting), { kind: 'dispatch', fire, outboxAvailableAt: FIRED_AT });
  });
});
