import { describe, expect, it } from '@jest/globals';
import { contractViolation } from './support/contract-conformance.js';

// The check every test app's responses go through (test/support/contract-conformance.ts), shown
// to catch each kind of break it claims to: a check that cannot fail would pass everything.
const live = { method: 'GET', route: '/health/live', url: '/health/live', contentType: 'application/json; charset=utf-8' };
const problem = (status: number) => JSON.stringify({ type: 'about:blank', title: 'Not Found', status, detail: 'No such thing.' });

describe('contract conformance check', () => {
  it('passes a response the contract documents', () => {
    expect(contractViolation({ ...live, statusCode: 200, body: JSON.stringify({ status: 'ok', info: {}, error: {}, details: {} }) })).toBeNull();
    expect(contractViolation({ method: 'GET', route: undefined, url: '/nowhere', statusCode: 404, contentType: 'application/problem+json', body: problem(404) })).toBeNull();
  });

  it('names a status the operation does not document', () => {
    expect(contractViolation({ ...live, statusCode: 418, body: '{}' })).toMatch(/status not documented/);
  });

  it('names a content type other than the documented one', () => {
    expect(contractViolation({ ...live, statusCode: 200, contentType: 'text/plain', body: 'ok' })).toMatch(/content type text\/plain/);
  });

  it('names a body that breaks the schema', () => {
    expect(contractViolation({ ...live, statusCode: 200, body: JSON.stringify({ status: 'fine' }) })).toMatch(/does not match the contract.*status/);
    expect(contractViolation({ ...live, statusCode: 200, body: 'not json' })).toMatch(/not JSON/);
  });

  it('holds answers on unknown paths to the problem schema', () => {
    const res = { method: 'GET', route: undefined, url: '/nowhere', statusCode: 404, contentType: 'application/problem+json' };
    expect(contractViolation({ ...res, body: JSON.stringify({ message: 'Not Found' }) })).toMatch(/does not match the contract/);
  });
});
