import assert from 'node:assert/strict';
import type { Response } from 'supertest';

export const PROBLEM_JSON = /^application\/problem\+json/;

/** An RFC 9457 problem body with this status: the only shape an error answer may have. */
export function assertProblem(res: Response, status: number): void {
  assert.equal(res.status, status, `${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.match(res.headers['content-type'] ?? '', PROBLEM_JSON);
  assert.equal(res.body.status, status);
  assert.equal(typeof res.body.type, 'string');
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
}
