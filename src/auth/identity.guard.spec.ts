import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { DuplicateIdentityHeader, InvalidToken, MissingUserId } from '../common/domain-errors.js';
import type { RequestIdentity } from './identity.js';
import { BEARER_CHALLENGE, IdentityGuard, INVALID_TOKEN_CHALLENGE, type RequestUser } from './identity.guard.js';

function contextFor(identity: RequestIdentity | undefined) {
  const request: { identity?: RequestIdentity; user?: RequestUser } = { identity };
  const headers: Record<string, string> = {};
  const reply = {
    header(name: string, value: string) {
      headers[name] = value;
      return reply;
    },
  };
  const context = { switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }) } as unknown as ExecutionContext;
  return { context, request, headers };
}

const HEADER = new IdentityGuard({ mode: 'header', jwt: null });
const JWT = new IdentityGuard({ mode: 'jwt', jwt: null });

describe('IdentityGuard', () => {
  it('lets a resolved user through as request.user, in either mode', () => {
    for (const guard of [HEADER, JWT]) {
      const { context, request, headers } = contextFor({ userId: 'alice' });
      assert.equal(guard.canActivate(context), true);
      assert.deepEqual(request.user, { id: 'alice' });
      assert.deepEqual(headers, {});
    }
  });

  it('header mode: no identity is MissingUserId, a resolved error is thrown as it is, without a challenge', () => {
    const missing = contextFor(undefined);
    assert.throws(() => HEADER.canActivate(missing.context), MissingUserId);
    const duplicate = contextFor({ error: new DuplicateIdentityHeader() });
    assert.throws(() => HEADER.canActivate(duplicate.context), DuplicateIdentityHeader);
    assert.deepEqual({ ...missing.headers, ...duplicate.headers }, {});
  });

  it('jwt mode: no token asks for one, a bad one is invalid_token', () => {
    const missing = contextFor(undefined);
    assert.throws(() => JWT.canActivate(missing.context), (error) => error instanceof InvalidToken && error.message === 'A bearer token is required.');
    assert.equal(missing.headers['www-authenticate'], BEARER_CHALLENGE);
    const bad = new InvalidToken('The bearer token is invalid or expired.');
    const invalid = contextFor({ error: bad });
    assert.throws(() => JWT.canActivate(invalid.context), (error) => error === bad);
    assert.equal(invalid.headers['www-authenticate'], INVALID_TOKEN_CHALLENGE);
    assert.equal(invalid.request.user, undefined);
  });
});
