import fc from 'fast-check';
import { v7 as uuidv7 } from 'uuid';

// What an attacker, or a broken client, sends: path segments, query strings, bodies and header
// values no well-behaved client would. Everything is given as it travels: URLs percent-encoded,
// bodies as the raw text (or bytes) with the content type they claim.

/** A request body as sent: the bytes and the content type claimed (none: no header). */
export interface RawBody {
  readonly payload: string | Buffer;
  readonly contentType?: string;
  /** What the case is, for the report of a failure. */
  readonly note: string;
}

/** Percent-encodes every byte, so any byte sequence (valid UTF-8 or not) travels in a URL. */
export function percentEncodeBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** JSON text of objects nested `depth` levels deep, built as text (no recursion). */
export function nestedObjectsJson(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

/** JSON text of arrays nested `depth` levels deep. */
export function nestedArraysJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** Path segments no record has, percent-encoded: NUL, bad UTF-8, lone surrogates, traversal, SQL, huge. */
export function hostilePathSegments(): string[] {
  return [
    '%00',
    'a%00b',
    '%1F',
    '%7F',
    '%ED%A0%80', // a lone high surrogate, as WTF-8
    '%ED%B0%80', // a lone low surrogate
    '%uD800', // JavaScript's escape(), not a percent-encoding
    '%5Cud800',
    '%',
    '%zz',
    '%E0%A4%A', // a truncated sequence
    '%C0%AF', // an overlong '/'
    '%FF%FE',
    '%2F',
    '%2e%2e',
    '..%2F..%2Fetc%2Fpasswd',
    '%20',
    '%09',
    '%0D%0Aset-cookie:%20x=1',
    "'%20OR%201=1--",
    '1;DROP%20TABLE%20schedules',
    '__proto__',
    'constructor',
    'prototype',
    'null',
    'undefined',
    '-1',
    '0x10',
    '1e309',
    '%F0%9F%92%A9',
    'x'.repeat(129),
    'x'.repeat(4000),
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    uuidv7(), // UUID-like, well formed, unknown
    uuidv7().toUpperCase(),
    `${uuidv7()}%00`,
  ];
}

/** base64url of `text`, as cursors are written. */
const base64url = (text: string) => Buffer.from(text).toString('base64url');

/** Cursors that do not decode to a position: not base64, not JSON, wrong shapes, NUL, dates out of range. */
export function hostileCursors(): string[] {
  return [
    'garbage',
    '%00',
    '%ED%A0%80',
    '!!!!',
    'A'.repeat(600),
    base64url('not json'),
    base64url('null'),
    base64url('[]'),
    base64url('{}'),
    base64url('[1,2]'),
    base64url('["2026-01-01T00:00:00.000Z"]'),
    base64url('["2026-01-01T00:00:00.000Z","a\\u0000"]'),
    base64url('["2026-01-01T00:00:00.000Z","\\ud800"]'),
    base64url('["+100000-01-01T00:00:00.000Z","a"]'),
    base64url('["-271821-04-20T00:00:00.000Z","a"]'),
    base64url('["2027-02-30T00:00:00.000Z","a"]'),
    base64url('["not a date","a"]'),
    base64url(`["2026-01-01T00:00:00.000Z","${'x'.repeat(300)}"]`),
    base64url('{"__proto__":{"polluted":true}}'),
  ];
}

/** Query strings as they travel: bad integers, repeated or bracketed keys, bad cursors, pollution keys. */
export function hostileQueries(): string[] {
  const numbers = ['abc', '0x10', '0o7', '0b1', '1e1', '1e309', '-1', '0', '-0', '+5', '%205', '5.0', '5.5', 'NaN', 'Infinity',
    '99999999999999999999', '9007199254740993', '%00', '%ED%A0%80', '', '5%00', '１'];
  return [
    ...numbers.flatMap((n) => [`limit=${n}`, `count=${n}`]),
    ...hostileCursors().flatMap((c) => [`limit=2&cursor=${c}`, `cursor=${c}`]),
    'limit=1&limit=2',
    'count=1&count=2',
    'cursor=a&cursor=b&limit=1',
    'limit[]=1',
    'limit[a]=1',
    'limit[__proto__]=1',
    '__proto__[polluted]=1',
    '__proto__.polluted=1',
    'constructor[prototype][polluted]=1',
    'constructor=1',
    'toString=1',
    'hasOwnProperty=1',
    'limit',
    '=',
    '&&&&',
    '%',
    '%zz=%zz',
    `a=${'x'.repeat(5000)}`,
    Array.from({ length: 1000 }, (_, i) => `k${i}=${i}`).join('&'),
    Array.from({ length: 1000 }, () => 'limit=1').join('&'),
  ];
}

/** Values that are wrong for most fields: wrong types, nulls, extremes, NUL and lone surrogates, pollution. */
export function hostileValues(): unknown[] {
  return [
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    '',
    ' ',
    'x'.repeat(100_000),
    'a\u0000b',
    'x\ud800y',
    '\udfff',
    '2027-02-30T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    [],
    [null],
    {},
    JSON.parse('{"__proto__":{"polluted":true}}'),
  ];
}

/** JSON text sent whatever the route expects: not JSON, not an object, pollution, deep, wide, huge. */
export function hostileJsonBodies(): RawBody[] {
  const json = (payload: string, note: string): RawBody => ({ payload, contentType: 'application/json', note });
  const wide = `{${Array.from({ length: 5000 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
  return [
    json('', 'empty'),
    json(' ', 'whitespace'),
    json('null', 'null'),
    json('true', 'true'),
    json('0', 'a number'),
    json('"text"', 'a string'),
    json('[]', 'an empty array'),
    json('[{"name":"x"}]', 'an array of objects'),
    json('{', 'truncated'),
    json('{"name": ', 'truncated value'),
    json("{'name':'x'}", 'single quotes'),
    json('{"name":"x",}', 'trailing comma'),
    json('NaN', 'NaN'),
    json('{"a":1,"a":2}', 'duplicate keys'),
    json('\u0000', 'a NUL'),
    json('{"name":"a\\u0000b"}', 'an escaped NUL'),
    json('{"name":"\\ud800"}', 'an escaped lone surrogate'),
    json('\ufeff{}', 'a BOM'),
    json('{"__proto__":{"polluted":true}}', '__proto__'),
    json('{"constructor":{"prototype":{"polluted":true}}}', 'constructor.prototype'),
    json('{"__proto__":null}', '__proto__ null'),
    json(nestedObjectsJson(40), 'objects 40 deep'),
    json(nestedObjectsJson(5000), 'objects 5000 deep'),
    json(nestedArraysJson(100_000), 'arrays 100000 deep'),
    json(wide, '5000 keys'),
    json(`[${Array.from({ length: 20_000 }, () => '0').join(',')}]`, '20000 values'),
    json(JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }), '2 MiB'),
    json(JSON.stringify({ name: 'x'.repeat(900 * 1024) }), '900 KiB string'),
    json('1'.repeat(5000), 'a 5000-digit number'),
    json('1e999999', 'an infinite number'),
    { payload: Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]), contentType: 'application/json', note: 'Latin-1 bytes' },
    { payload: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), contentType: 'application/json', note: 'UTF-16 bytes' },
  ];
}

/** Content types other than JSON, or JSON with a charset the service does not read. */
export const HOSTILE_CONTENT_TYPES: readonly string[] = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=',
  'application/json;;;',
  'application/jsonx',
  'application/json, text/plain',
  'application/merge-patch+json',
  'application/problem+json',
  'APPLICATION/JSON',
  '*/*',
  ';',
  'x'.repeat(2000),
];

/**
 * Each top-level field of `valid` replaced by each hostile value, and left out; then unknown and
 * pollution keys added. Nested objects get the same treatment one level down.
 */
export function mutationsOf(valid: Record<string, unknown>): RawBody[] {
  const bodies: RawBody[] = [];
  const json = (value: unknown, note: string): RawBody => ({ payload: JSON.stringify(value), contentType: 'application/json', note });
  for (const [field, current] of Object.entries(valid)) {
    for (const value of hostileValues()) bodies.push(json({ ...valid, [field]: value }, `${field} = ${JSON.stringify(value)?.slice(0, 40)}`));
    const { [field]: _dropped, ...rest } = valid;
    bodies.push(json(rest, `without ${field}`));
    if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
      for (const [inner] of Object.entries(current)) {
        for (const value of [null, 1, 'a\u0000', [], {}]) {
          bodies.push(json({ ...valid, [field]: { ...current, [inner]: value } }, `${field}.${inner} = ${JSON.stringify(value)}`));
        }
      }
    }
  }
  bodies.push(json({ ...valid, unknown_field: 1 }, 'an unknown key'));
  bodies.push({ payload: JSON.stringify(valid).replace(/^\{/, '{"__proto__":{"polluted":true},'), contentType: 'application/json', note: 'with __proto__' });
  bodies.push({ payload: JSON.stringify(valid).replace(/^\{/, '{"constructor":{"prototype":{"polluted":true}},'), contentType: 'application/json', note: 'with constructor' });
  for (const contentType of HOSTILE_CONTENT_TYPES) bodies.push({ payload: JSON.stringify(valid), contentType, note: `as ${contentType.slice(0, 40)}` });
  bodies.push({ payload: JSON.stringify(valid), note: 'without a content type' });
  return bodies;
}

/** Bytes a header can carry over HTTP/1.1 (tab, visible ASCII, obs-text), read as Node reads them (Latin-1). */
export const headerValue: fc.Arbitrary<string> = fc
  .uint8Array({ maxLength: 300 })
  .map((bytes) => Buffer.from(bytes.filter((b) => b === 0x09 || (b >= 0x20 && b !== 0x7f))).toString('latin1'));

/** Any byte sequence as one path segment (never empty: that would be another route). */
export const pathSegment: fc.Arbitrary<string> = fc.uint8Array({ minLength: 1, maxLength: 48 }).map(percentEncodeBytes);

/** Query strings of likely and unlikely keys with arbitrary values (any bytes, numbers of every shape). */
export const queryString: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'cursor', 'count', 'name', '__proto__', 'constructor[prototype]', 'limit[]'),
      fc.oneof(
        fc.uint8Array({ maxLength: 24 }).map(percentEncodeBytes),
        fc.integer().map(String),
        fc.double().map(String),
        fc.bigInt().map(String),
        fc.string({ maxLength: 12 }).map(encodeURIComponent),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([key, value]) => `${key}=${value}`).join('&'));

/** Object keys an attacker tries: pollution keys, empty, NUL, the service's own field names. */
const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', '', '\u0000', 'name', 'enabled', 'status', 'state', 'parameters', 'toString'),
  fc.string({ maxLength: 8 }),
);

/** Generated bodies: JSON values, objects with hostile keys, arbitrary bytes and text claimed to be JSON. */
export const requestBody: fc.Arbitrary<RawBody> = fc.oneof(
  fc.jsonValue({ maxDepth: 5 }).map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json', note: 'generated JSON' })),
  fc
    .dictionary(hostileKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 })
    .map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json', note: 'generated object' })),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ payload: Buffer.from(bytes), contentType: 'application/json', note: 'generated bytes' })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ payload: text, contentType: 'application/json', note: 'generated text' })),
);
