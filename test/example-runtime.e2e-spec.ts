import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { aCreateBody } from './support/builders.js';
import { assertAnsweredRun, type ExampleRuntimeRig, startExampleRuntime, waitFor } from './support/example-runtime.js';

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
    const sessions = (await http().get(`/schedule/${scheduleId}/sessions`).set('x-user-id', user).expect(200)).body.sessions;
    assertAnsweredRun(run, sessions[0].state.context, rig.output());
  });
});
