import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { decodeCursor, encodeCursor } from './cursor.js';
import { ValidationFailed } from './domain-errors.js';

/** A cursor built by hand from the JSON text it should carry. */
const forged = (json: string) => Buffer.from(json, 'utf8').toString('base64url');

function assertRejected(cursor: string): void {
  assert.throws(
    () => decodeCursor(cursor),
    (error: unknown) => {
      assert.ok(error instanceof ValidationFailed, `expected ValidationFailed, got ${String(error)}`);
      assert.equal(error.code, 'validation-failed');
      assert.deepEqual(error.errors, [{ field: 'cursor', message: 'cursor is not a cursor this service issued' }]);
      return true;
    },
    `cursor ${JSON.stringify(cursor)} should be rejected`,
  );
}

describe('encodeCursor / decodeCursor', () => {
  it('round-trips a position, keeping milliseconds', () => {
    const position = { at: new Date('2026-05-04T09:00:00.123Z'), id: '0196a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' };
    const cursor = encodeCursor(position);
    assert.deepEqual(decodeCursor(cursor), position);
  });

  it('round-trips ids with any printable characters, up to 128 of them', () => {
    const positions = [
      { at: new Date(0), id: 'x' },
      { at: new Date('1999-12-31T23:59:59.999Z'), id: 'ünïcödé ✓ "quoted" \\ / +=' },
      { at: new Date('2026-05-04T09:00:00Z'), id: 'a'.repeat(128) },
    ];
    for (const position of positions) {
      assert.deepEqual(decodeCursor(encodeCursor(position)), position, position.id);
    }
  });

  it('rejects what encodeCursor never writes: other date forms, impossible dates, years past 9999', () => {
    for (const at of [
      '2026-05-04T09:00:00Z',
      '2026-05-04',
      'May 4, 2026',
      '0',
      '2026-02-30T00:00:00.000Z',
      '2026-05-04T24:00:00.000Z',
      '+010000-01-01T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
    ]) {
      assertRejected(forged(JSON.stringify([at, 'x'])));
    }
  });

  it('rejects a JSON string (its characters are not a position), extra elements, and non-base64url text', () => {
    assertRejected(forged('"2a"'));
    assertRejected(forged('["2026-05-04T09:00:00.000Z","x","extra"]'));
    const valid = encodeCursor({ at: new Date('2026-05-04T09:00:00.000Z'), id: 'x' });
    assertRejected(`${valid}!!!`);
    assertRejected(Buffer.from('["2026-05-04T09:00:00.000Z","x>?"]').toString('base64'));
  });

  it('rejects ids no stored record can have: NUL, control characters, lone surrogates', () => {
    const at = '2026-05-04T09:00:00.000Z';
    for (const id of ['a\u0000b', 'a\nb', '\ud800']) assertRejected(forged(JSON.stringify([at, id])));
  });

  it('encodes as URL-safe base64 of [iso time, id], without padding', () => {
    const cursor = encodeCursor({ at: new Date('2026-05-04T09:00:00.000Z'), id: 'run-1?>' });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(cursor, 'base64url').toString('utf8'), '["2026-05-04T09:00:00.000Z","run-1?>"]');
  });

  it('gives different cursors for different positions', () => {
    const at = new Date('2026-05-04T09:00:00.000Z');
    assert.notEqual(encodeCursor({ at, id: 'a' }), encodeCursor({ at, id: 'b' }));
    assert.notEqual(encodeCursor({ at, id: 'a' }), encodeCursor({ at: new Date(at.getTime() + 1), id: 'a' }));
  });

  it('rejects garbage that is not base64 of JSON', () => {
    for (const cursor of ['', '!!!', 'not a cursor', 'abc', forged('not json'), forged('["2026-05-04T09:00:00Z", "x"')]) {
      assertRejected(cursor);
    }
  });

  it('rejects JSON of the wrong shape', () => {
    for (const json of [
      'null',
      '42',
      'true',
      '{}',
      '{"at":"2026-05-04T09:00:00Z","id":"x"}',
      '[]',
      '["2026-05-04T09:00:00Z"]',
      '[1777885200000,"x"]',
      '["2026-05-04T09:00:00Z",7]',
      '["2026-05-04T09:00:00Z",null]',
      '[null,"x"]',
      '[["2026-05-04T09:00:00Z"],"x"]',
    ]) {
      assertRejected(forged(json));
    }
  });

  it('rejects an empty id and an id longer than 128 characters', () => {
    const at = '2026-05-04T09:00:00.000Z';
    assertRejected(forged(JSON.stringify([at, ''])));
    assertRejected(forged(JSON.stringify([at, 'a'.repeat(129)])));
    assert.equal(decodeCursor(forged(JSON.stringify([at, 'a'.repeat(128)]))).id.length, 128);
  });

  it('rejects a time that is not a date', () => {
    for (const at of ['', 'yesterday', 'not-a-date', '2026-13-01T00:00:00Z', '2026-05-04T25:00:00Z', '+275760-09-13T00:00:00.001Z']) {
      assertRejected(forged(JSON.stringify([at, 'x'])));
    }
  });
});
