import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { scheduleEtag, versionsIfMatch } from './schedule-etag.js';
import type { Schedule } from '../domain/schedule.js';

describe('schedule ETags', () => {
  it('quote the version', () => {
    assert.equal(scheduleEtag({ version: 3 } as Schedule), '"3"');
  });

  it('If-Match: none or * allows any version', () => {
    assert.equal(versionsIfMatch(undefined), undefined);
    assert.equal(versionsIfMatch('*'), undefined);
    assert.equal(versionsIfMatch(' * '), undefined);
  });

  it('If-Match: the strong tags name the versions', () => {
    assert.deepEqual(versionsIfMatch('"3"'), [3]);
    assert.deepEqual(versionsIfMatch(' "3" '), [3]);
    assert.deepEqual(versionsIfMatch('"3", "12",W/"4","x,y"'), [3, 12]);
  });

  const matchingNothing: Array<[string, string]> = [
    ['an unquoted version', '3'],
    ['a weak tag', 'W/"3"'],
    ['a tag that is not a version', '"abc"'],
    ['a tag with a leading zero', '"03"'],
    ['a negative version', '"-1"'],
    ['version 0', '"0"'],
    ['a version past the safe integers', `"${'9'.repeat(20)}"`],
    ['an unterminated tag', '"3'],
    ['* in a list', '*, "3"'],
    ['trailing text', '"3" x'],
    ['an empty header', ''],
  ];
  for (const [what, header] of matchingNothing) {
    it(`If-Match: ${what} names no version`, () => {
      assert.deepEqual(versionsIfMatch(header), []);
    });
  }
});
