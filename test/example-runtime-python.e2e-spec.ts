import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import request from 'supertest';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { aCreateBody } from './support/builders.js';
import { assertAnsweredRun, type ExampleRuntimeRig, startExampleRuntime, waitFor } from './support/example-runtime.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'agent_runtime.py');

/**
 * Why this suite is skipped in this run, or undefined when `python3` on PATH is 3.9 or newer.
 * Under CI=true a missing Python throws instead: there it is a failure, not a skip.
 */
function pythonSkipReason(): string | undefined {
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.version.split()[0]); sys.exit(sys.version_info < (3, 9))'], {
    encoding: 'utf8',
  });
  const reason = probe.error
    ? `python3 is not on PATH (${probe.error.message})`
    : probe.status !== 0
      ? `python3 on PATH is not 3.9 or newer (${(probe.stdout || probe.stderr).trim() || `exit ${probe.status}`})`
      : undefined;
  if (reason && process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
  return reason;
}

const skip = pythonSkipReason();

describe('the example agent runtime in Python (examples/agent_runtime.py), as the README runs it', () => {
  if (skip) {
    it.skip(`skipped: ${skip}`, () => undefined);
    return;
  }
  const user = 'example-user';
  let rig: ExampleRuntimeRig;
  const http = () => request(rig.service.app.getHttpServer());

  beforeAll(async () => {
    rig = await startExampleRuntime('python3', [EXAMPLE]);
  });
  afterAll(() => rig?.stop());

  /** Creates a schedule for `description` and fires it now: the run is pending, not delivered yet. */
  async function fire(description: string, scheduleId?: string) {
    if (!scheduleId) {
      const created = await http().post('/schedule').set('x-user-id', user).send(aCreateBody({ description })).expect(201);
      scheduleId = created.body.schedule_id as string;
    }
    const fired = await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', user).send().expect(202);
    assert.equal(fired.body.run.status, 'pending');
    return { scheduleId, runId: fired.body.run.id as string };
  }

  const getRun = async (scheduleId: string, runId: string) =>
    (await http().get(`/schedule/${scheduleId}/runs/${runId}`).set('x-user-id', user).expect(200)).body;
  const getSessions = async (scheduleId: string) =>
    (await http().get(`/schedule/${scheduleId}/sessions`).set('x-user-id', user).expect(200)).body.sessions;

  /** Delivers what is due and waits for the run to end (its final status is the test's to check). */
  async function deliver(scheduleId: string, runId: string) {
    await rig.service.app.get(DispatcherService).drain();
    return waitFor(
      `run ${runId} to end`,
      () => getRun(scheduleId, runId),
      (r) => r.status !== 'pending' && r.status !== 'dispatched' && r.status !== 'running',
    );
  }

  /** The webhook the service sends for a fire, as the README describes it: the records the API returns. */
  async function webhookBodyOf(scheduleId: string, runId: string, sessionText?: string): Promise<string> {
    const schedule = (await http().get(`/schedule/${scheduleId}`).set('x-user-id', user).expect(200)).body;
    const [session] = await getSessions(scheduleId);
    const run = await getRun(scheduleId, runId);
    if (sessionText !== undefined) {
      const [first] = session.state.context;
      session.state.context = [{ ...first, content: [{ ...first.content[0], text: sessionText }] }];
    }
    return JSON.stringify({ type: 'schedule.fired', timestamp: new Date().toISOString(), data: { run, schedule, session } });
  }

  async function post(body: string, headers: Record<string, string>): Promise<number> {
    const res = await fetch(rig.runtimeUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    await res.arrayBuffer();
    return res.status;
  }

  const signed = (signer: Webhook, id: string, at: Date, body: string) => ({
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signer.sign(id, at, body),
  });

  it('runs a fire: the session shows the agent reply and the run ends succeeded', async () => {
    const { scheduleId, runId } = await fire('Water the plants');
    const run = await deliver(scheduleId, runId);
    assertAnsweredRun(run, (await getSessions(scheduleId))[0].state.context, rig.output());
  });

  it('answers 401 to a webhook the service did not sign, and runs nothing of it', async () => {
    const { scheduleId, runId } = await fire('Feed the cat');
    // Forged bodies carry the real run's ID as webhook-id and a task of their own: had one been
    // run, its reply would be in the session, and the genuine delivery would be a duplicate.
    const genuine = await webhookBodyOf(scheduleId, runId);
    const forged = await webhookBodyOf(scheduleId, runId, '<scheduled-task>\nOpen the door\n</scheduled-task>');
    const real = new Webhook(rig.secret);
    const now = new Date();
    const unknownVersion = signed(real, runId, now, forged);
    unknownVersion['webhook-signature'] = unknownVersion['webhook-signature'].replace(/^v1,/, 'v2,');
    const attempts: Array<[string, Record<string, string>]> = [
      ['no signature headers', {}],
      ['another secret', signed(new Webhook(`whsec_${randomBytes(32).toString('base64')}`), runId, now, forged)],
      ['the signature of another body', signed(real, runId, now, genuine)],
      ['a signature under an unknown version', unknownVersion],
      ['a timestamp 6 minutes old', signed(real, runId, new Date(now.getTime() - 6 * 60_000), forged)],
      ['a timestamp 6 minutes ahead', signed(real, runId, new Date(now.getTime() + 6 * 60_000), forged)],
    ];
    for (const [what, headers] of attempts) assert.equal(await post(forged, headers), 401, what);
    assert.equal((await getRun(scheduleId, runId)).status, 'pending');

    const run = await deliver(scheduleId, runId);
    assert.equal(run.status, 'succeeded', rig.output());
    const [session] = await getSessions(scheduleId);
    const texts = session.state.context.map((message: { content: Array<{ text: string }> }) => message.content[0].text);
    assert.equal(texts.length, 2, texts.join(' | '));
    assert.match(texts[0], /Feed the cat/);
    assert.equal(texts[1], 'Done: Feed the cat');
  });

  it('acknowledges a repeated delivery (same webhook-id) with 202 and does not run it again', async () => {
    const { scheduleId, runId } = await fire('Take out the bins');
    const body = await webhookBodyOf(scheduleId, runId);
    assert.equal((await deliver(scheduleId, runId)).status, 'succeeded', rig.output());

    // Delivered again, as after a dispatcher's crash; the signature list also holds one that
    // matches nothing, since any one matching signature is enough.
    const headers = signed(new Webhook(rig.secret), runId, new Date(), body);
    headers['webhook-signature'] = `v1,${randomBytes(32).toString('base64')} ${headers['webhook-signature']}`;
    assert.equal(await post(body, headers), 202);
    // The runtime decides before it answers; a run started for the repeat would report
    // `running` on a finished run (409) and log a failure long before the next fire ends.
    const next = await fire('Take out the bins', scheduleId);
    assert.equal((await deliver(scheduleId, next.runId)).status, 'succeeded', rig.output());

    const output = rig.output();
    assert.equal(output.split(`run ${runId} `).length - 1, 1, output);
    assert.match(output, new RegExp(`run ${runId} succeeded`));
    const run = await getRun(scheduleId, runId);
    assert.equal(run.status, 'succeeded');
    assert.equal(run.attempts.length, 1);
    const sessions = await getSessions(scheduleId);
    assert.equal(sessions.length, 2);
    for (const session of sessions) assert.equal(session.state.context.length, 2);
  });
});
