import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import fastify, { type FastifyInstance } from 'fastify';
import { ShutdownDrain } from './shutdown-drain.service.js';

/** A server with the drain attached: /slow answers when the test says, /health/ready at once. */
async function serve(timeoutMs: number): Promise<{ server: FastifyInstance; drain: ShutdownDrain; url: string; release: () => void }> {
  const server = fastify();
  const drain = new ShutdownDrain();
  drain.attach(server, timeoutMs);
  let release = () => undefined as void;
  const released = new Promise<void>((resolve) => (release = resolve));
  server.get('/slow', async () => {
    await released;
    return { done: true };
  });
  server.get('/health/ready', async () => ({ status: drain.isDraining ? 'draining' : 'ok' }));
  await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, drain, url: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`, release };
}

/** Resolves once the server has seen the request (it is in flight). */
async function inFlight(drain: ShutdownDrain, count: number): Promise<void> {
  const inFlight = (drain as unknown as { inFlight: Set<unknown> }).inFlight;
  while (inFlight.size < count) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('ShutdownDrain', () => {
  let server: FastifyInstance | undefined;
  beforeAll(() => Logger.overrideLogger(false));
  afterEach(async () => {
    server?.server.closeAllConnections();
    await server?.close();
  });

  it('ends at once when nothing is in flight', async () => {
    const s = await serve(10_000);
    server = s.server;
    const started = Date.now();
    await s.drain.onModuleDestroy();
    assert.ok(Date.now() - started < 1000);
    assert.equal(s.drain.isDraining, true);
  });

  it('waits for the request in flight, refusing new ones with a 503 problem but still serving health', async () => {
    const s = await serve(10_000);
    server = s.server;
    const slow = fetch(`${s.url}/slow`);
    await inFlight(s.drain, 1);
    let drained = false;
    const draining = s.drain.onModuleDestroy().then(() => (drained = true));

    const refused = await fetch(`${s.url}/slow`, { headers: { connection: 'close' } });
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(refused.headers.get('connection'), 'close');
    const problem = (await refused.json()) as { type: string; status: number; instance: string };
    assert.equal(problem.type, 'urn:schedule-service:problem:shutting-down');
    assert.equal(problem.status, 503);
    assert.equal(problem.instance, '/slow');
    assert.equal(((await (await fetch(`${s.url}/health/ready`)).json()) as { status: string }).status, 'draining');
    assert.equal(drained, false);

    s.release();
    assert.equal((await slow).status, 200);
    await draining;
  });

  it('with a timeout of 0, closes the connections in flight without waiting', async () => {
    const s = await serve(0);
    server = s.server;
    const slow = fetch(`${s.url}/slow`).then(
      () => 'answered',
      () => 'cut',
    );
    await inFlight(s.drain, 1);
    await s.drain.onModuleDestroy();
    assert.equal(await slow, 'cut');
    s.release();
  });
});
