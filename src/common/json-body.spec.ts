import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ValidationFailed } from './domain-errors.js';
import { type JsonBodyLimits, parseJsonBody } from './json-body.js';

const LIMITS: JsonBodyLimits = { bytes: 1 << 20, depth: 4, values: 10, keysPerObject: 5 };
const parse = (text: string) => parseJsonBody('application/json', Buffer.from(text), LIMITS);
const refusal = (text: string) => {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ValidationFailed, String(error));
    return error.errors[0];
  }
  assert.fail(`accepted ${text}`);
};

describe('parseJsonBody', () => {
  it('accepts a body at the limits, whatever its strings hold', () => {
    // 9 values and 4 levels, with commas, brackets and escaped quotes inside its strings.
    const text = JSON.stringify({ a: ',,,,,,,,,,,,{[{[{[', b: 'say \\"hi\\", [x]', c: [1, [2, [3]]] });
    assert.deepEqual(parse(text), JSON.parse(text));
  });

  it('refuses too many values from the raw text, before the parse, as the exact check would', () => {
    assert.deepEqual(refusal(`[${'0,'.repeat(10)}0]`), { field: 'body', message: 'the body holds more than 10 JSON values' });
    // Not well-formed either: the count comes first, since counting is what stays cheap.
    assert.deepEqual(refusal(`{${'"k":,'.repeat(20)}`), { field: 'body', message: 'the body holds more than 10 JSON values' });
  });

  it('refuses nesting past the limit from the raw text; an escaped quote does not end a string', () => {
    assert.deepEqual(refusal('[[[[[0]]]]]'), { field: 'body', message: 'nests deeper than 4 levels' });
    assert.deepEqual(refusal('["\\"", [[[[0]]]]]'), { field: 'body', message: 'nests deeper than 4 levels' });
    assert.deepEqual(parse('["\\"[[[[[", [[[0]]]]'), ['"[[[[[', [[[0]]]]);
  });

  it('leaves the rest to the exact check after the parse, which names the field', () => {
    assert.deepEqual(refusal('{"a":{"b":1,"c":2,"d":3,"e":4,"f":5,"g":6}}'), { field: 'a', message: 'has more than 5 keys' });
    assert.deepEqual(refusal('{"a":"\\u0000"}'), { field: 'a', message: 'must not contain NUL characters or unpaired UTF-16 surrogates' });
  });
});
