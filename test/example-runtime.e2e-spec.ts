import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { aCreateBody } from './support/builders.js';
import { type ExampleRuntimeRig, startExampleRuntime, waitFor } from './support/example-runtime.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'agent-runtime.mjs');

describe('the example agent runtime (examples/agent-runtime.mjs), as the README runs it', () => {
  let rig: ExampleRuntimeRig;

  beforeAll(async () => {
    // NODE_OPTIONS: not Jest's, which the runtime has no use for.
    rig = await startExampleRuntime(process.execPath, [EXAMPLE], { NODE_OPTIONS: '' });
  });
  afterAll(() => rig?.stop());

  it('runs a fire: the session shows the agent reply and the run ends succeeded', async () => {
    const user = 'example-user';
    const http = () => request(rig.service.app.getHttpServer());
    const created = await http().post('/schedule').set('x-user-id', user).send(aCreateBody({ description: 'Water the plants' })).expect(201);
    const scheduleId = created.body.schedule_id;
    const fired = await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', user).send().expect(202);
    assert.equal(fired.body.run.status, 'pending');

    await rig.service.app.get(DispatcherService).drain();
    const run = await waitFor(
      'the run to succeed',
      async () => (await http().get(`/schedule/${scheduleId}/runs/${fired.body.run.id}`).set('x-user-id', user).expect(200)).body,
      (r) => r.status !== 'pending' && r.status !== 'dispatched' && r.status !== 'running',
    );
    assert.equal(run.status, 'succeeded', rig.output());
    assert.equal(run.attempts.length, 1);
    assert.equal(run.attempts[0].status_code, 202);

    const sessions = (await http().get(`/schedule/${scheduleId}/sessions`).set('x-user-id', user).expect(200)).body.sessions;
    const context = sessions[0].state.context;
    assert.equal(context.length, 2);
    assert.equal(context[1].name, 'assistant');
    assert.equal(context[1].content[0].text, 'Done: Water the plants');
    // The usage it reported with the final status: its rough count, no price.
    assert.equal(run.usage.output_tokens, Math.ceil('Done: Water the plants'.length / 4));
    assert.ok(run.usage.input_tokens > 0);
    assert.deepEqual(run.usage, { ...context[1].usage, cost_usd: null });
  });
});
