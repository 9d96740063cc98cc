// The agent runtime of the delivery benches (bench/webhook-receiver.ts), started in its own
// process: it answers every webhook 200 {"status":"succeeded"} at once and says what it got.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface Receiver {
  url: string;
  pid: number;
  stats(from?: number, to?: number): Promise<ReceiverStats>;
  close(): Promise<void>;
}

export interface ReceiverStats {
  total: number;
  distinct: number;
  duplicates: number;
  lastArrivedAt: number | null;
  arrived: number;
  scheduled: number;
  lagP50: number | null;
  lagP99: number | null;
  lagMax: number | null;
}

export async function startReceiver(): Promise<Receiver> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'webhook-receiver.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/webhook`,
    pid: child.pid!,
    stats: async (from = 0, to = Number.MAX_SAFE_INTEGER) => (await fetch(`${base}/stats?from=${from}&to=${to}`)).json() as Promise<ReceiverStats>,
    close: () => stopChild(child),
  };
}


/** Ends a child process, SIGTERM, and waits for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
