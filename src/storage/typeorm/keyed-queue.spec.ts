import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { KeyedQueue } from './keyed-queue.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('KeyedQueue', () => {
  it('runs the tasks of one key one at a time, in order, and of different keys side by side', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const task = (name: string) => async () => {
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([queue.run('a', task('a1')), queue.run('b', task('b1')), queue.run('a', task('a2'))]);
    assert.deepEqual(results, ['a1', 'b1', 'a2']);
    assert.ok(log.indexOf('end a1') < log.indexOf('start a2'));
    assert.ok(log.indexOf('start b1') < log.indexOf('end a1'));
    assert.equal(queue.size, 0);
  });

  it('runs the next task after one that failed, and hands each its own outcome', async () => {
    const queue = new KeyedQueue();
    const failing = queue.run('a', async () => {
      throw new Error('first');
    });
    const next = queue.run('a', async () => 'second');
    await assert.rejects(failing, /first/);
    assert.equal(await next, 'second');
  });
});
