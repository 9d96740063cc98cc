// Stateful fire cost: one fire of a stateful schedule (every fire appends its prompt to the one
// session `{schedule_id}_stateful`) when that session holds few messages and when it holds many,
// on each backend, through the storage port. Called by run.ts (last); alone with
// `BENCH_ONLY=stateful`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataSource } from 'typeorm';
import type { StorageConfig } from '../src/config/app-config.js';
import { fireWrite, scheduledTaskMessage, statefulSessionId } from '../src/domain/fire.js';
import type { Schedule } from '../src/domain/schedule.js';
import { MemoryStorage } from '../src/storage/memory/memory.storage.js';
import type { StorageBackend } from '../src/storage/storage-backend.js';
import { storedSession } from '../test/support/stored-sessions.js';
import { dataSourceOptions } from '../src/storage/typeorm/data-source-options.js';
import { TypeOrmStorage } from '../src/storage/typeorm/typeorm.storage.js';
import { aSchedule } from '../test/support/builders.js';
import { createThrowawayDatabase } from '../test/support/postgres.js';

const QUICK = process.env.BENCH_QUICK === '1';
/**
 * What is compared: fires into a small session and into one at the bound, with short prompts
 * (the message bound: 1 000 kept of 10 000 seeded) and with long ones (20 000 characters each:
 * the byte bound, 1 MiB, keeps about 50).
 */
export interface StatefulCaseSpec {
  name: string;
  /** Messages already in the session before the measured fires. */
  small: number;
  large: number;
  /** The schedule's description (the prompt each fire appends). */
  description: string;
}

export const STATEFUL_CASES: StatefulCaseSpec[] = [
  { name: 'short prompts, the message bound', small: 10, large: 10_000, description: 'Summarise yesterday' },
  { name: 'prompts of 20 000 characters, the byte bound', small: 4, large: 200, description: 'x'.repeat(20_000) },
];
/** Consecutive measured fires at each size (and unmeasured ones before them). */
const FIRES = QUICK ? 20 : 50;
const WARMUP = 3;
const USER = 'stateful-bench-user';

type Driver = 'memory' | 'sqlite' | 'postgres';

export interface StatefulCase {
  /** Messages in the session before the first measured fire, and after the last. */
  messagesBefore: number;
  messagesAfter: number;
  /** Size of the session's state document before the first measured fire (JSON bytes). */
  stateBytes: number;
  fires: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export interface StatefulResult {
  backend: Driver;
  case: string;
  small: StatefulCase;
  large: StatefulCase;
  /** large / small, of the medians. */
  ratio: number;
  /** The storage kept fewer messages than were appended: the large case ran at that bound. */
  bounded: boolean;
}

interface OpenedStorage {
  storage: StorageBackend;
  dispose(): Promise<void>;
}

/** Opens a storage the way test/support/test-storages.ts does: the real constructors, schema by migrations. */
async function openStorage(driver: Driver): Promise<OpenedStorage> {
  if (driver === 'memory') return { storage: new MemoryStorage(), dispose: async () => undefined };
  const typeorm = async (config: StorageConfig, cleanup: () => unknown): Promise<OpenedStorage> => {
    const storage = new TypeOrmStorage(await new DataSource(dataSourceOptions(config)).initialize());
    return {
      storage,
      async dispose() {
        await storage.lifecycle.close();
        await cleanup();
      },
    };
  };
  if (driver === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'schedules-bench-stateful-'));
    return typeorm({ driver, sqlitePath: join(dir, 'bench.sqlite') }, () => rmSync(dir, { recursive: true, force: true }));
  }
  const db = await createThrowawayDatabase();
  return typeorm({ driver, sqlitePath: '', databaseUrl: db.url }, () => db.drop());
}

/**
 * A stateful schedule whose session holds `messages` prompts, as that many earlier fires would
 * have left it. Seeded through the port in one call: the first fire of a stateful schedule
 * inserts `fire.session` as given, here with its context already filled.
 */
async function seededSchedule(storage: StorageBackend, messages: number, before: number, description: string): Promise<Schedule> {
  const schedule = aSchedule({ userId: USER, description, stateful: true, cronExpression: '0 0 1 1 *', timezone: 'UTC', nextRunAt: null });
  await storage.schedules.createSchedule(schedule);
  const first = new Date(before - messages * 60_000);
  const fire = fireWrite(schedule, first);
  fire.session.state.context = Array.from({ length: messages }, (_, i) => scheduledTaskMessage(schedule, new Date(first.getTime() + i * 60_000)));
  fire.message = fire.session.state.context[0];
  if ((await storage.firing.recordFire(fire)).status !== 'fired') throw new Error('seeding the stateful session failed');
  return schedule;
}

async function sessionSize(storage: StorageBackend, schedule: Schedule): Promise<{ messages: number; bytes: number }> {
  const session = await storedSession(storage.history, schedule, statefulSessionId(schedule.id));
  if (!session) throw new Error(`stateful session of ${schedule.id} is missing`);
  return { messages: session.state.context.length, bytes: Buffer.byteLength(JSON.stringify(session.state)) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

const ms = (x: number) => Math.round(x * 100) / 100;

function summarise(times: number[], before: { messages: number; bytes: number }, after: number): StatefulCase {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    messagesBefore: before.messages,
    messagesAfter: after,
    stateBytes: before.bytes,
    fires: times.length,
    medianMs: ms(percentile(sorted, 0.5)),
    p95Ms: ms(percentile(sorted, 0.95)),
    minMs: ms(sorted[0]),
    maxMs: ms(sorted[sorted.length - 1]),
  };
}

async function statefulOn(driver: Driver, spec: StatefulCaseSpec, log: (line: string) => void): Promise<StatefulResult> {
  const opened = await openStorage(driver);
  try {
    const { storage } = opened;
    const start = Date.now();
    const seedStarted = performance.now();
    // Seeded short of the size by the unmeasured fires, so that the measured ones start at it.
    const small = await seededSchedule(storage, spec.small - WARMUP, start, spec.description);
    const large = await seededSchedule(storage, spec.large - WARMUP, start, spec.description);
    log(`  ${driver}: seeded the sessions in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

    // The measured part: FiringStorage.recordFire(fireWrite(schedule, at)), the two sizes in
    // alternation so that drift in the machine's load falls on both.
    let at = start;
    const fire = (schedule: Schedule) => storage.firing.recordFire(fireWrite(schedule, new Date((at += 1000))));
    for (let i = 0; i < WARMUP; i++) {
      await fire(small);
      await fire(large);
    }
    const smallBefore = await sessionSize(storage, small);
    const largeBefore = await sessionSize(storage, large);
    const smallTimes: number[] = [];
    const largeTimes: number[] = [];
    for (let i = 0; i < FIRES; i++) {
      for (const [schedule, times] of [[small, smallTimes], [large, largeTimes]] as const) {
        const write = fireWrite(schedule, new Date((at += 1000)));
        const t0 = performance.now();
        const stored = await storage.firing.recordFire(write);
        times.push(performance.now() - t0);
        if (!stored) throw new Error(`fire of ${schedule.id} was not recorded`);
      }
    }
    const smallAfter = (await sessionSize(storage, small)).messages;
    const largeAfter = (await sessionSize(storage, large)).messages;
    const bounded = largeBefore.messages < spec.large || largeAfter < spec.large + FIRES;
    if (smallAfter !== spec.small + FIRES && !bounded) {
      throw new Error(`the small session holds ${smallAfter} messages, expected ${spec.small + FIRES}`);
    }
    const result: StatefulResult = {
      backend: driver,
      case: spec.name,
      small: summarise(smallTimes, smallBefore, smallAfter),
      large: summarise(largeTimes, largeBefore, largeAfter),
      ratio: 0,
      bounded,
    };
    result.ratio = Math.round((result.large.medianMs / result.small.medianMs) * 100) / 100;
    log(
      `  ${driver}, ${spec.name}: median ${result.small.medianMs} ms at ${smallBefore.messages} messages (${(smallBefore.bytes / 1024).toFixed(0)} KiB), ` +
        `${result.large.medianMs} ms at ${largeBefore.messages} (${(largeBefore.bytes / 2 ** 20).toFixed(1)} MiB)${bounded ? `, bounded: ${largeAfter} kept` : ''}`,
    );
    return result;
  } finally {
    await opened.dispose();
  }
}

/** Runs every case of the stateful fire cost on every backend. */
export async function statefulBenchmark(log: (line: string) => void): Promise<StatefulResult[]> {
  const results: StatefulResult[] = [];
  for (const spec of STATEFUL_CASES) {
    for (const driver of ['memory', 'sqlite', 'postgres'] as const) results.push(await statefulOn(driver, spec, log));
  }
  return results;
}

/** The printed table: one per case. */
export function statefulTable(results: StatefulResult[]): string[] {
  const cell = (c: StatefulCase) => `${c.medianMs} (p95 ${c.p95Ms})`;
  return STATEFUL_CASES.flatMap((spec) => {
    const rows = results.filter((r) => r.case === spec.name);
    if (rows.length === 0) return [];
    const kept = Math.max(...rows.map((r) => r.large.messagesAfter));
    return [
      `Stateful fire cost, ${spec.name} — FiringStorage.recordFire of one fire of a stateful schedule, by the size of its session; ` +
        `${FIRES} consecutive fires at each size (after ${WARMUP} unmeasured), the two sizes alternating; median ms (p95 ms) per fire (target: ratio ≤ 2)`,
      `| backend | ${spec.small} messages | at the bound (${kept.toLocaleString('en')} messages kept; ${spec.large.toLocaleString('en')} seeded) | ratio of medians |`,
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.backend} | ${cell(r.small)} | ${cell(r.large)} | **${r.ratio.toFixed(2)}** |`),
      '',
    ];
  });
}
