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

/** The routes whose bodies RUNTIME_JSON_BODY_LIMITS bound. */
export const RUNTIME_ROUTE_PREFIX = '/runtime/';


const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/**
 * The request body as JSON, for every content type (the service speaks JSON only): 415 for
 * another media type or a charset other than UTF-8, 400 for bytes that are not UTF-8 or text
 * that is not JSON, 422 for JSON beyond `limits` or holding text no backend can store
 * (NUL, lone surrogates). An empty body is no body.
 */
export function parseJsonBody(contentType: string | undefined, body: Buffer, limits: JsonBodyLimits = JSON_BODY_LIMITS): unknown {
  const [mediaType, ...params] = (contentType ?? '').split(';').map((part) => part.trim().toLowerCase());
  if (!JSON_MEDIA_TYPE.test(mediaType)) {
    throw new UnsupportedMediaTypeException('Request bodies must be JSON: Content-Type: application/json.');
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new UnsupportedMediaTypeException('JSON bodies must be UTF-8 (charset=utf-8).');
  }
  if (body.length === 0) return undefined;
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
    throw new BadRequestException(`The body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  checkJsonShape(value, limits);
  return value;
}

/** Walks the parsed body without recursion, so no nesting can overflow the stack. */
function checkJsonShape(root: unknown, limits: JsonBodyLimits): void {
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 1 }];
  let values = 0;
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (++values > limits.values) {
      reject('', `the body holds more than ${limits.values} JSON values`);
    }
    if (typeof value === 'string') {
      if (!isStorableText(value)) reject(path, 'must not contain NUL characters or unpaired UTF-16 surrogates');
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth > limits.depth) reject(path, `nests deeper than ${limits.depth} levels`);
    if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    const entries = Object.entries(value);
    if (entries.length > limits.keysPerObject) {
      reject(path, `has more than ${limits.keysPerObject} keys`);
    }
    for (const [key, item] of entries) {
      const itemPath = path ? `${path}.${key}` : key;
      if (key === '__proto__' || !isStorableText(key)) reject(itemPath.slice(0, 200), 'is not an allowed key');
      pending.push({ value: item, path: itemPath, depth: depth + 1 });
    }
  }
}

function reject(field: string, message: string): never {
  throw new ValidationFailed([{ field: field.slice(0, 200) || 'body', message }]);
}
