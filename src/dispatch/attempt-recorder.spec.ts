import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { StorageUnavailable } from '../common/domain-errors.js';
import type { DeliveryRecord } from '../domain/delivery.js';
import type { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { AttemptRecorder, MAX_RECORDS_PER_BATCH } from './attempt-recorder.js';

const record = (runId: string): DeliveryRecord => ({
  attempt: { runId, at: new Date('2026-03-02T08:00:00.000Z'), statusCode: 200, error: null, durationMs: 5 },
  result: { outcome: 'delivered' },
});

/** A storage whose writes wait until the test opens them, and which can refuse a run's record. */
class GatedWrites {
  readonly writes: string[][] = [];
  private gates: Array<() => void> = [];
  refuse = new Set<string>();
  down = false;

  async recordDeliveryAttempts(records: readonly DeliveryRecord[]): Promise<void> {
    await new Promise<void>((open) => this.gates.push(open));
    if (this.down) throw new StorageUnavailable(undefined, { cause: new Error('connect ECONNREFUSED') });
    if (records.some((r) => this.refuse.has(r.attempt.runId))) throw new Error('value too long');
    this.writes.push(records.map((r) => r.attempt.runId));
  }

  /** Opens the writes waiting now; returns how many there were. */
  async open(): Promise<number> {
    await new Promise((resolve) => setImmediate(resolve));
    const gates = this.gates.splice(0);
    gates.forEach((open) => open());
    return gates.length;
  }

  asStorage(): DeliveryStorage {
    return this as unknown as DeliveryStorage;
  }
}

describe('AttemptRecorder', () => {
  it('writes the first attempt at once, and those that come meanwhile together in the next write', async () => {
    const storage = new GatedWrites();
    const recorder = new AttemptRecorder(storage.asStorage(), new ManualClock());
    const first = recorder.record(record('a'));
    const rest = ['b', 'c', 'd'].map((id) => recorder.record(record(id)));
    assert.equal(await storage.open(), 1);
    await first;
    assert.equal(await storage.open(), 1);
    await Promise.all(rest);
    assert.deepEqual(storage.writes, [['a'], ['b', 'c', 'd']]);
    await recorder.idle();
  });

  it('writes at most MAX_RECORDS_PER_BATCH at once', async () => {
    const storage = new GatedWrites();
    const recorder = new AttemptRecorder(storage.asStorage(), new ManualClock());
    const all = Array.from({ length: MAX_RECORDS_PER_BATCH + 2 }, (_, i) => recorder.record(record(`r${i}`)));
    while ((await storage.open()) > 0);
    await Promise.all(all);
    // The first alone, at once; then the rest in batches of at most MAX_RECORDS_PER_BATCH.
    assert.deepEqual(storage.writes.map((w) => w.length), [1, MAX_RECORDS_PER_BATCH, 1]);
  });

  it('tries each record of a refused batch alone, so that one bad record fails alone', async () => {
    const storage = new GatedWrites();
    storage.refuse.add('bad');
    const recorder = new AttemptRecorder(storage.asStorage(), new ManualClock());
    const first = recorder.record(record('a'));
    const good = recorder.record(record('b'));
    const bad = recorder.record(record('bad'));
    const refused = assert.rejects(bad, /value too long/);
    while ((await storage.open()) > 0);
    await Promise.all([first, good, refused]);
    assert.deepEqual(storage.writes, [['a'], ['b']]);
  });

  it('refuses a whole batch at once while the storage is unavailable', async () => {
    const storage = new GatedWrites();
    const recorder = new AttemptRecorder(storage.asStorage(), new ManualClock());
    storage.down = true;
    const records = ['a', 'b', 'c'].map((id) => assert.rejects(recorder.record(record(id)), StorageUnavailable));
    let writes = 0;
    for (let opened; (opened = await storage.open()) > 0; ) writes += opened;
    await Promise.all(records);
    assert.equal(writes, 2, 'the first alone, then the two that came meanwhile, each batch once');
  });
});
