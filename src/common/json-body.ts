import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import { ValidationFailed } from './domain-errors.js';
import { isStorableText } from './text.js';

/**
 * What one request body may hold. The parse and this check are linear in the body's size, and
 * the limits keep the validation after them (class-transformer recurses per level and is slow
 * on very wide objects) to a few milliseconds.
 */
export interface JsonBodyLimits {
  /** Bytes; larger bodies are 413. */
  bytes: number;
  /** Levels of nested objects and arrays, the body itself being level 1. */
  depth: number;
  /** Values in the whole body: every object, array, string, number, boolean and null. */
  values: number;
  /** Keys of one object (class-transformer's work grows with the square of an object's width). */
  keysPerObject: number;
}

/** What a user's request body may hold. */
export const JSON_BODY_LIMITS: JsonBodyLimits = {
  bytes: 1024 * 1024,
  depth: 32,
  values: 2000,
  keysPerObject: 100,
};

/**
 * What the agent runtime's request bodies (/runtime routes) may hold: a session's whole state is
 * far more than a schedule (a stateful session keeps 1000 messages by default, some 14 000 JSON
 * values). Validating a state took about 5 ms per 1000 values here (3500 messages, 49 000 values:
 * 230 ms), so 50 000 keep a write near a quarter of a second.
 * The runtime is authenticated before its body is validated; an unauthenticated body costs only
 * the linear parse and check.
 */
export const RUNTIME_JSON_BODY_LIMITS: JsonBodyLimits = {
  bytes: 16 * 1024 * 1024,
  depth: 32,
  values: 50_000,
  keysPerObject: 100,
};



const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** The 415's detail for a body that is not JSON. */
export const NOT_JSON_DETAIL = 'Request bodies must be JSON: Content-Type: application/json.';
/** The start of the 400's detail for a body that is not JSON text (the parser's message follows). */
export const INVALID_JSON_DETAIL = 'The body is not valid JSON';

/**
 * The request body as JSON, for every content type (the service speaks JSON only): 415 for
 * another media type or a charset other than UTF-8, 400 for bytes that are not UTF-8 or text
 * that is not JSON, 422 for JSON beyond `limits` or holding text no backend can store
 * (NUL, lone surrogates). An empty body is no body.
 */
export function parseJsonBody(contentType: string | undefined, body: Buffer, limits: JsonBodyLimits = JSON_BODY_LIMITS): unknown {
  const [mediaType, ...params] = (contentType ?? '').split(';').map((part) => part.trim().toLowerCase());
  if (!JSON_MEDIA_TYPE.test(mediaType)) {
    throw new UnsupportedMediaTypeException(NOT_JSON_DETAIL);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeException('JSON bodies must be UTF-8 (charset=utf-8).');
  }
  if (body.length === 0) return undefined;
  checkJsonStructure(body, limits);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body);
  } catch {
    throw new BadRequestException('The body is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BadRequestException(`${INVALID_JSON_DETAIL}: ${(error as Error).message.slice(0, 200)}`);
  }
  checkJsonShape(value, limits);
  return value;
}

/**
 * A scan of the raw bytes before JSON.parse, which alone holds the event loop for 80-190 ms on a
 * 1 MiB body of 100 000 keys or 500 000 nested arrays: outside strings, every comma separates two
 * values and every `{`/`[` opens a level, so a body with as many commas as the values allowed, or
 * nested deeper than allowed, is refused here, in a few milliseconds. What passes is checked
 * exactly after the parse (checkJsonShape). Bytes of a string never count: inside one, `"` ends
 * it unless escaped, and no JSON structure byte occurs within a multi-byte UTF-8 character.
 */
function checkJsonStructure(body: Buffer, limits: JsonBodyLimits): void {
  let commas = 0;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === COMMA) {
      if (++commas >= limits.values) reject('', `the body holds more than ${limits.values} JSON values`);
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > limits.depth) reject('', `nests deeper than ${limits.depth} levels`);
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
}

// The bytes of `"`, `\`, `,`, `{`, `}`, `[` and `]`.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Walks the parsed body without recursion, so no nesting can overflow the stack. Each object or
 * array is counted against the limits before its items are visited, so a body far past them is
 * refused at its first wide container rather than after a walk of all of it; the walk keeps one
 * stack slot per level (at most `limits.depth`), and a path is built only for the error reported.
 */
function checkJsonShape(root: unknown, limits: JsonBodyLimits): void {
  // The containers being walked, outermost first; for each, its keys (objects) and the position
  // of the item being visited. Together they are the path of the current value.
  const containers: object[] = [];
  const keyLists: Array<string[] | null> = [];
  const positions: number[] = [];
  const pathHere = () => currentPath(keyLists, positions);
  let values = 1;
  let value = root;
  for (;;) {
    if (typeof value === 'string') {
      if (!isStorableText(value)) reject(pathHere(), 'must not contain NUL characters or unpaired UTF-16 surrogates');
    } else if (value !== null && typeof value === 'object') {
      if (containers.length >= limits.depth) reject(pathHere(), `nests deeper than ${limits.depth} levels`);
      let keys: string[] | null = null;
      let size: number;
      if (Array.isArray(value)) {
        size = value.length;
      } else {
        if (hasMoreKeysThan(value, limits.keysPerObject)) reject(pathHere(), `has more than ${limits.keysPerObject} keys`);
        keys = Object.keys(value);
        size = keys.length;
      }
      values += size;
      if (values > limits.values) reject('', `the body holds more than ${limits.values} JSON values`);
      containers.push(value);
      keyLists.push(keys);
      positions.push(-1);
    }
    // On to the next item of the innermost container that has one left.
    for (;;) {
      const top = containers.length - 1;
      if (top < 0) return;
      const position = ++positions[top];
      const keys = keyLists[top];
      if (keys === null) {
        const items = containers[top] as unknown[];
        if (position < items.length) {
          value = items[position];
          break;
        }
      } else if (position < keys.length) {
        const key = keys[position];
        if (key === '__proto__' || !isStorableText(key)) reject(pathHere(), 'is not an allowed key');
        value = (containers[top] as Record<string, unknown>)[key];
        break;
      }
      containers.pop();
      keyLists.pop();
      positions.pop();
    }
  }
}

/** Whether `object` has more than `limit` keys, counting no further than one past it. */
function hasMoreKeysThan(object: object, limit: number): boolean {
  let count = 0;
  for (const key in object) {
    if (Object.hasOwn(object, key) && ++count > limit) return true;
  }
  return false;
}

/** `a.b[2].c` for the item at each level's position; built only for an error, so not past what it reports. */
function currentPath(keyLists: ReadonlyArray<string[] | null>, positions: readonly number[]): string {
  let path = '';
  for (let level = 0; level < positions.length && path.length <= MAX_REPORTED_PATH; level++) {
    const keys = keyLists[level];
    if (keys === null) path += `[${positions[level]}]`;
    else path += path ? `.${keys[positions[level]]}` : keys[positions[level]];
  }
  return path;
}

/** The most of a field's path an error reports. */
const MAX_REPORTED_PATH = 200;

function reject(field: string, message: string): never {
  throw new ValidationFailed([{ field: field.slice(0, MAX_REPORTED_PATH) || 'body', message }]);
}
