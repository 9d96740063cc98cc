import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { describe, it } from '@jest/globals';
import { generateOpenApiContract, OPENAPI_CONTRACT_PATH } from './support/openapi-contract.js';

/*
 * docs/openapi.json is the published contract: the document the app generates must be exactly
 * the committed one. `npm run openapi` runs this file with OPENAPI_WRITE=1, which writes the
 * generated document instead of comparing it.
 */

type Document = {
  paths?: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
  [key: string]: unknown;
};

const REGENERATE = 'Run `npm run openapi` to regenerate docs/openapi.json, review the diff, and commit it.';

describe('the published OpenAPI contract (docs/openapi.json)', () => {
  it('is the document the app generates', async () => {
    const generated = await generateOpenApiContract();
    if (process.env.OPENAPI_WRITE === '1') {
      writeFileSync(OPENAPI_CONTRACT_PATH, generated);
      return;
    }
    assert.ok(existsSync(OPENAPI_CONTRACT_PATH), `docs/openapi.json is missing. ${REGENERATE}`);
    const committed = readFileSync(OPENAPI_CONTRACT_PATH, 'utf8');
    if (committed === generated) return;
    const changes = differences(JSON.parse(committed), JSON.parse(generated));
    assert.fail(`docs/openapi.json differs from the document the app generates:\n${changes}\n${REGENERATE}`);
  });
});

/** What differs, by operation, schema and top-level member: committed (-) against generated (+). */
function differences(committed: Document, generated: Document): string {
  const lines = [
    ...compare('operation', operations(committed), operations(generated)),
    ...compare('schema', committed.components?.schemas ?? {}, generated.components?.schemas ?? {}),
    ...compare('security scheme', committed.components?.securitySchemes ?? {}, generated.components?.securitySchemes ?? {}),
    ...compare('top-level member', withoutPathsAndComponents(committed), withoutPathsAndComponents(generated)),
  ];
  return lines.length > 0 ? lines.map((line) => `  ${line}`).join('\n') : '  (the same JSON, formatted differently)';
}

function compare(kind: string, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.flatMap((name) => {
    if (!(name in after)) return [`- ${kind} ${name}: no longer generated`];
    if (!(name in before)) return [`+ ${kind} ${name}: generated, not in the file`];
    if (isDeepStrictEqual(before[name], after[name])) return [];
    return [`~ ${kind} ${name}: ${changedMembers(before[name], after[name]).join(', ')} changed`];
  });
}

/** The members that differ, two levels deep (`responses.404`, `properties.name`), or `value` itself. */
function changedMembers(before: unknown, after: unknown, depth = 2): string[] {
  const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === 'object' && value !== null && !Array.isArray(value);
  if (depth === 0 || !isObject(before) || !isObject(after)) return ['value'];
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => !isDeepStrictEqual(before[key], after[key]))
    .flatMap((key) => {
      const inner = key in before && key in after ? changedMembers(before[key], after[key], depth - 1) : ['value'];
      return inner.map((member) => (member === 'value' ? key : `${key}.${member}`));
    });
}

/** `GET /schedule/{schedule_id}` → its operation object. */
function operations(document: Document): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(document.paths ?? {}).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => [`${method.toUpperCase()} ${path}`, operation]),
    ),
  );
}

function withoutPathsAndComponents(document: Document): Record<string, unknown> {
  const { paths: _paths, components, ...rest } = document;
  const { schemas: _schemas, securitySchemes: _schemes, ...otherComponents } = components ?? {};
  return Object.keys(otherComponents).length > 0 ? { ...rest, components: otherComponents } : rest;
}
