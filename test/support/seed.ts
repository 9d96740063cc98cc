import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The contract page, beside the project's root, where the machines lay it out. */
export const SEED_PAGE = join(import.meta.dirname, '../../../shared/contract/list-schedule-sessions.seed.txt');
/** The page's example response, kept in the repo so the tests also run without shared/. */
export const SEED_FIXTURE = join(import.meta.dirname, '../fixtures/list-schedule-sessions.seed.json');

/** The first example response body on the contract page. */
export function exampleFromSeedPage(page: string): unknown {
  const start = page.indexOf('{\n"sessions"');
  let depth = 0;
  for (let i = start; i < page.length; i++) {
    if (page[i] === '{') depth++;
    if (page[i] === '}' && --depth === 0) return JSON.parse(page.slice(start, i + 1));
  }
  throw new Error('no example response on the seed page');
}

export function seedExample(): unknown {
  return JSON.parse(readFileSync(SEED_FIXTURE, 'utf8'));
}

export function seedPageExists(): boolean {
  return existsSync(SEED_PAGE);
}

/**
 * The key paths of `value` that the seed's example does not have. An empty object in the
 * example (`parameters: {}`, `metadata: {}`) is free-form: what is inside it is not compared.
 */
export function pathsMissingFromSeed(value: unknown, seed: unknown): string[] {
  const seedPaths = new Set(keyPaths(seed));
  const freeForm = freeFormPaths(seed);
  return keyPaths(value).filter(
    (path) => !seedPaths.has(path) && !freeForm.some((prefix) => path.startsWith(`${prefix}.`)),
  );
}

function freeFormPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => freeFormPaths(item, `${prefix}[]`));
  if (value !== null && typeof value === 'object') {
    if (prefix && Object.keys(value).length === 0) return [prefix];
    return Object.entries(value).flatMap(([key, child]) => freeFormPaths(child, prefix ? `${prefix}.${key}` : key));
  }
  return [];
}

/**
 * Every key path of a JSON value (`sessions[].state.context[].usage.input_tokens`). Arrays
 * contribute the paths of their elements, so empty arrays contribute only themselves.
 */
export function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) {
    return [prefix, ...value.flatMap((item) => keyPaths(item, `${prefix}[]`))];
  }
  if (value !== null && typeof value === 'object') {
    return [
      ...(prefix ? [prefix] : []),
      ...Object.entries(value).flatMap(([key, child]) => keyPaths(child, prefix ? `${prefix}.${key}` : key)),
    ];
  }
  return [prefix];
}
