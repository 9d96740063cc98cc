import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
}

export interface LoadSummary {
  /** Medians over the runs. */
  rps: number;
  p50: number;
  p99: number;
  /** The spread of requests/s over the runs: the machine's noise. */
  rpsMin: number;
  rpsMax: number;
  runs: LoadResult[];
}

type Options = { connections: number; seconds: number; runs: number };

/** One autocannon run in its own process, on loopback. */
async function once(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds)];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  const { stdout } = await run(process.execPath, [...args, url], { maxBuffer: 64 * 1024 * 1024 });
  const result = JSON.parse(stdout);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

function summarise(runs: LoadResult[]): LoadSummary {
  const rps = runs.map((r) => r.rps);
  return {
    rps: median(rps),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    runs,
  };
}

/** A warm-up, then `runs` measured runs of one URL. */
export async function measure(url: string, headers: Record<string, string>, opts: Options): Promise<LoadSummary> {
  await once(url, headers, opts.connections, 1);
  const runs: LoadResult[] = [];
  for (let i = 0; i < opts.runs; i++) runs.push(await once(url, headers, opts.connections, opts.seconds));
  return summarise(runs);
}

/**
 * URLs measured in alternation (a, b, c, a, b, c, …), so that drift in the machine's load falls
 * on all alike rather than on whichever ran last.
 */
export async function measureAlternating(urls: string[], headers: Record<string, string>, opts: Options): Promise<LoadSummary[]> {
  for (const url of urls) await once(url, headers, opts.connections, 1);
  const runs: LoadResult[][] = urls.map(() => []);
  for (let i = 0; i < opts.runs; i++) {
    for (const [k, url] of urls.entries()) runs[k].push(await once(url, headers, opts.connections, opts.seconds));
  }
  return runs.map(summarise);
}

/** Two URLs measured in alternation (see measureAlternating). */
export async function measurePair(a: string, b: string, headers: Record<string, string>, opts: Options): Promise<[LoadSummary, LoadSummary]> {
  const [sa, sb] = await measureAlternating([a, b], headers, opts);
  return [sa, sb];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
