import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { DISPATCH_DEFAULTS } from '../../src/config/app-config.js';
import { freePort } from './ports.js';
import { createTestApp, type TestApp } from './test-app.js';

/** Polls `probe` until `done`; an example runtime works in its own process, on its own time. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A service on SQLite listening on 127.0.0.1, and one of examples/' runtimes started as the README starts it. */
export interface ExampleRuntimeRig {
  service: TestApp;
  runtime: ChildProcess;
  /** Where the service delivers: the runtime's webhook URL. */
  runtimeUrl: string;
  /** The secret the webhooks are signed with. */
  secret: string;
  /** The runtime's bearer token on the service's /runtime routes. */
  runtimeToken: string;
  /** What the runtime printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the service (its dispatcher's loop off: a test delivers with drain(), so nothing depends
 * on timers) and `command args` with the environment the README gives a runtime, and waits until
 * the runtime says it listens.
 */
export async function startExampleRuntime(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ExampleRuntimeRig> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const runtimeToken = randomBytes(24).toString('hex');
  const runtimeUrl = `http://127.0.0.1:${await freePort()}/hook`;
  const service = await createTestApp('sqlite', {
    runtimeToken,
    dispatch: { ...DISPATCH_DEFAULTS, url: runtimeUrl, secret, enabled: false },
  });
  await service.app.listen(0, '127.0.0.1');
  const { port } = service.app.getHttpServer().address() as AddressInfo;
  const runtime = spawn(command, args, {
    env: {
      ...process.env,
      ...env,
      PORT: new URL(runtimeUrl).port,
      SERVICE_URL: `http://127.0.0.1:${port}`,
      DISPATCH_SECRET: secret,
      RUNTIME_TOKEN: runtimeToken,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  runtime.stdout!.on('data', (chunk) => chunks.push(String(chunk)));
  runtime.stderr!.on('data', (chunk) => chunks.push(String(chunk)));
  const output = () => chunks.join('');
  const stop = async () => {
    runtime.kill('SIGTERM');
    await service.close();
  };
  try {
    await waitFor('the runtime to listen', async () => output(), (out) => out.includes('listening on'));
  } catch (error) {
    await stop();
    throw error;
  }
  return { service, runtime, runtimeUrl, secret, runtimeToken, output, stop };
}

/**
 * What both example runtimes make of a fire of "Water the plants": the run succeeded on its one
 * delivery, the session holds the agent's reply, and the run carries the usage the runtime
 * reported with it (its rough count, no price). `output` is the runtime's, for the failure message.
 */
export function assertAnsweredRun(run: Record<string, any>, context: Array<Record<string, any>>, output: string): void {
  assert.equal(run.status, 'succeeded', output);
  assert.equal(run.attempts.length, 1);
  assert.equal(run.attempts[0].status_code, 202);
  assert.equal(context.length, 2);
  assert.equal(context[1].name, 'assistant');
  assert.equal(context[1].content[0].text, 'Done: Water the plants');
  assert.equal(run.usage.output_tokens, Math.ceil('Done: Water the plants'.length / 4));
  assert.ok(run.usage.input_tokens > 0);
  assert.deepEqual(run.usage, { ...context[1].usage, cost_usd: null });
}
