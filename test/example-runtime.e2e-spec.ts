import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import request from 'supertest';
import { DispatcherService } from '../src/dispatch/dispatcher.service.js';
import { DISPATCH_DEFAULTS } from '../src/config/app-config.js';
import { aCreateBody } from './support/builders.js';
import { createTestApp, type TestApp } from './support/test-app.js';
import { freePort } from './support/ports.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'agent-runtime.mjs');

/** Polls `probe` until `done`; the example runtime works in its own process, on its own time. */
async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}


describe('the example agent runtime (examples/agent-runtime.mjs), as the README runs it', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const runtimeToken = randomBytes(24).toString('hex');
  let runtime: ChildProcess;
  const runtimeOutput: string[] = [];
  let service: TestApp;

  beforeAll(async () => {
    const runtimePort = await freePort();
    service = await createTestApp('sqlite', {
      runtimeToken,
      // The dispatcher's loop is off: the test delivers with drain(), so nothing depends on timers.
      dispatch: { ...DISPATCH_DEFAULTS, url: `http://127.0.0.1:${runtimePort}/hook`, secret, enabled: false },
    });
    await service.app.listen(0, '127.0.0.1');
    const { port } = service.app.getHttpServer().address() as AddressInfo;
    runtime = spawn(process.execPath, [EXAMPLE], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        PORT: String(runtimePort),
        SERVICE_URL: `http://127.0.0.1:${port}`,
        DISPATCH_SECRET: secret,
        RUNTIME_TOKEN: runtimeToken,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runtime.stdout!.on('data', (chunk) => runtimeOutput.push(String(chunk)));
    runtime.stderr!.on('data', (chunk) => runtimeOutput.push(String(chunk)));
    await waitFor('the runtime to listen', async () => runtimeOutput.join(''), (out) => out.includes('listening on'));
  });
  afterAll(async () => {
    runtime?.kill('SIGTERM');
    await service?.close();
  });

  it('runs a fire: the session shows the agent reply and the run ends succeeded', async () => {
    const user = 'example-user';
    const http = () => request(service.app.getHttpServer());
    const created = await http().post('/schedule').set('x-user-id', user).send(aCreateBody({ description: 'Water the plants' })).expect(201);
    const scheduleId = created.body.schedule_id;
    const fired = await http().post(`/schedule/${scheduleId}/run`).set('x-user-id', user).send().expect(202);
    assert.equal(fired.body.run.status, 'pending');

    await service.app.get(DispatcherService).drain();
    const run = await waitFor(
      'the run to succeed',
      async () => (await http().get(`/schedule/${scheduleId}/runs/${fired.body.run.id}`).set('x-user-id', user).expect(200)).body,
      (r) => r.status !== 'pending' && r.status !== 'dispatched' && r.status !== 'running',
    );
    assert.equal(run.status, 'succeeded', runtimeOutput.join(''));
    assert.equal(run.attempts.length, 1);
    assert.equal(run.attempts[0].status_code, 202);

    const sessions = (await http().get(`/schedule/${scheduleId}/sessions`).set('x-user-id', user).expect(200)).body.sessions;
    const context = sessions[0].state.context;
    assert.equal(context.length, 2);
    assert.equal(context[1].name, 'assistant');
    assert.equal(context[1].content[0].text, 'Done: Water the plants');
  });
});
