import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { TypeOrmStorage } from '../src/storage/typeorm/typeorm.storage.js';
import { aCreateBody } from './support/builders.js';
import { freePort } from './support/ports.js';

/*
 * SIGTERM on the service as deployed: readiness goes 503 at once, a request in flight gets to
 * finish (new ones are refused with 503), and the process exits 0; a request that never
 * finishes is cut after SHUTDOWN_TIMEOUT_MS.
 */

const ROOT = join(import.meta.dirname, '..');
/** The built service (`npm test` builds it first), started as deployed. */
const MAIN = join(ROOT, 'dist/src/main.js');
const USER = 'shutdown-user';


async function waitFor(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** One service process on a SQLite file of its own. */
class Service {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private readonly process: ChildProcess;

  constructor(
    readonly port: number,
    readonly sqlitePath: string,
    shutdownTimeoutMs: number,
  ) {
    this.process = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        STORAGE_DRIVER: 'sqlite',
        SQLITE_PATH: sqlitePath,
        HOST: '127.0.0.1',
        PORT: String(port),
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (chunk) => this.output.push(String(chunk)));
    this.process.stderr!.on('data', (chunk) => this.output.push(String(chunk)));
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  }

  get log(): string {
    return this.output.join('');
  }

  /** Resolves once it listens (the line is plain text or a JSON log line). */
  started(): Promise<void> {
    return waitFor(`the service to listen: ${this.log}`, () => /Listening on http:\/\/[^:]+:\d+/.test(this.log), 30_000);
  }

  /** Sends SIGTERM; returns when it was sent. */
  terminate(): number {
    this.process.kill('SIGTERM');
    return Date.now();
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

/** A request on a fresh connection (no keep-alive agent), its status, headers and parsed body. */
function call(
  port: number,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { 'x-user-id': USER, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(payload);
  });
}

/**
 * POST /schedule sent slowly over a raw socket: the headers and half the body now, the rest on
 * finish(). `Connection: close`, so that `closed` resolves with the whole response.
 */
class SlowCreate {
  private readonly socket: Socket;
  private readonly rest: string;
  private received = '';
  readonly closed: Promise<string>;

  constructor(port: number) {
    const body = JSON.stringify(aCreateBody({ name: 'Created while shutting down' }));
    const half = Math.floor(body.length / 2);
    this.rest = body.slice(half);
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('utf8')));
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve(this.received)));
    this.socket.on('error', () => undefined);
    this.socket.write(
      `POST /schedule HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nx-user-id: ${USER}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
    );
  }

  finish(): void {
    this.socket.write(this.rest);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('graceful shutdown (SIGTERM)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-shutdown-'));
  const slow: SlowCreate[] = [];
  let draining: Service;
  let cutting: Service;

  async function start(shutdownTimeoutMs: number, name: string): Promise<Service> {
    return new Service(await freePort(), join(dir, `${name}.sqlite`), shutdownTimeoutMs);
  }

  // Both started at once: start-up is most of this suite's time.
  beforeAll(async () => {
    [draining, cutting] = await Promise.all([start(5000, 'drain'), start(1500, 'cut')]);
    await Promise.all([draining.started(), cutting.started()]);
  });
  afterAll(() => {
    for (const request of slow) request.destroy();
    draining?.kill();
    cutting?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A slow request the service has begun: once a later request on another connection has its
   * answer, the slow one's headers (sent before) have been read, and it counts as in flight.
   */
  async function beginSlowCreate(service: Service): Promise<SlowCreate> {
    const request = new SlowCreate(service.port);
    slow.push(request);
    assert.equal((await call(service.port, 'GET', '/health/live')).status, 200);
    return request;
  }

  it('turns readiness 503 and refuses new requests while a slow request finishes, then exits 0', async () => {
    const service = draining;
    assert.equal((await call(service.port, 'GET', '/health/ready')).status, 200);
    const request = await beginSlowCreate(service);

    const signalledAt = service.terminate();
    await waitFor(`the drain to start: ${service.log}`, () => /waiting up to 5000 ms for 1 request\(s\) in flight/.test(service.log));

    for (const path of ['/health/ready', '/health']) {
      const ready = await call(service.port, 'GET', path);
      assert.equal(ready.status, 503, JSON.stringify(ready.body));
      assert.equal(ready.body.status, 'error');
      assert.equal(ready.body.error.lifecycle.status, 'down');
      assert.ok(ready.headers['retry-after']);
    }
    assert.equal((await call(service.port, 'GET', '/health/live')).status, 200);
    const refused = await call(service.port, 'POST', '/schedule', aCreateBody());
    assert.equal(refused.status, 503);
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
    assert.equal(refused.body.type, 'urn:schedule-service:problem:shutting-down');
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.headers.connection, 'close');

    request.finish();
    const response = await request.closed;
    assert.match(response, /^HTTP\/1\.1 201 /, response);
    const created = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));

    const { code, signal, at } = await service.exited;
    assert.equal(code, 0, `exited with ${code ?? signal}: ${service.log}`);
    assert.ok(at - signalledAt < 5000, `took ${at - signalledAt} ms to exit`);
    // The slow request's write was committed before the storage closed.
    const dataSource = await new DataSource(dataSourceOptions({ driver: 'sqlite', sqlitePath: service.sqlitePath })).initialize();
    try {
      const stored = await new TypeOrmStorage(dataSource).schedules.getSchedule(USER, created.schedule_id);
      assert.equal(stored?.name, 'Created while shutting down');
    } finally {
      await dataSource.destroy();
    }
  });

  it('cuts a request that never finishes after SHUTDOWN_TIMEOUT_MS, and still exits 0', async () => {
    const service = cutting;
    const request = await beginSlowCreate(service);

    const signalledAt = service.terminate();
    assert.equal(await request.closed, '', 'the cut request got an answer');
    const cutAfter = Date.now() - signalledAt;
    assert.ok(cutAfter >= 1400 && cutAfter < 4000, `cut after ${cutAfter} ms`);
    const { code, signal, at } = await service.exited;
    assert.equal(code, 0, `exited with ${code ?? signal}: ${service.log}`);
    assert.ok(at - signalledAt < 4000, `took ${at - signalledAt} ms to exit`);
    assert.match(service.log, /closing the connections of 1 request\(s\) still in flight after 1500 ms/);
  });
});
