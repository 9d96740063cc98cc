import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { createParentFolders, openDataSource } from './open-data-source.js';

describe('createParentFolders', () => {
  const dir = mkdtempSync(join(tmpdir(), 'schedules-folders-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates each missing folder above the file, and leaves existing ones alone', () => {
    const path = join(dir, 'a', 'b', 'c', 'db.sqlite');
    createParentFolders(path);
    assert.ok(statSync(join(dir, 'a', 'b', 'c')).isDirectory());
    assert.equal(existsSync(path), false);
    createParentFolders(path);
    createParentFolders(join(dir, 'top.sqlite'));
  });

  it('fails with the errno when a parent is a file', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    assert.throws(() => createParentFolders(join(file, 'sub', 'db.sqlite')), { code: 'ENOTDIR' });
  });

  // Node's recursive mkdir spins at 100 % CPU on this path; one level at a time it fails at once.
  (existsSync('/proc/self') ? it : it.skip)('fails at once under /proc, where nothing can be created', async () => {
    assert.throws(() => createParentFolders('/proc/nope/x.db'), { code: 'ENOENT' });
    await assert.rejects(openDataSource({ driver: 'sqlite', sqlitePath: '/proc/nope/x.db' }), { code: 'ENOENT' });
  }, 5000);
});
