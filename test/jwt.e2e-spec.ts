import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, it, jest } from '@jest/globals';
import { base64url, type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import request, { type Response } from 'supertest';
import { INVALID_TOKEN_DETAIL } from '../src/auth/identity.js';
import { BEARER_CHALLENGE, INVALID_TOKEN_CHALLENGE } from '../src/auth/identity.guard.js';
import { JWKS_COOLDOWN_MS } from '../src/auth/jwks-keys.js';
import { type AuthConfig, JWT_ASYMMETRIC_ALGORITHMS, type JwtConfig } from '../src/config/app-config.js';
import { aCreateBody } from './support/builders.js';
import { aRuntimeToken } from './support/dispatch.js';
import { assertProblem } from './support/problem.js';
import { type BackendHandle, createTestApp, describeOnEveryBackend, type TestApp } from './support/test-app.js';

const ISSUER = 'https://issuer.example.test/';
const AUDIENCE = 'schedule-service';
const SECRET = 'test-only-hs256-secret-0123456789abcdef';

/** jwt mode with this key source; the rest as an operator would set it. */
function jwtAuth(keys: Partial<JwtConfig>, overrides: Partial<JwtConfig> = {}): AuthConfig {
  return {
    mode: 'jwt',
    jwt: {
      jwksUrl: null,
      publicKey: null,
      secret: null,
      algorithms: keys.secret ? ['HS256'] : [...JWT_ASYMMETRIC_ALGORITHMS],
      issuer: ISSUER,
      audience: AUDIENCE,
      userClaim: 'sub',
      clockToleranceSeconds: 30,
      ...keys,
      ...overrides,
    },
  };
}

/** A key the test's issuer signs with; `jwk` is its public half as a JWKS lists it. */
interface SigningKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey | Uint8Array;
  publicKey?: CryptoKey;
  jwk?: JWK;
}

async function aKeyPair(alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const kid = `${alg.toLowerCase()}-${randomUUID()}`;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const HS_KEY: SigningKey = { alg: 'HS256', kid: 'hs-1', privateKey: new TextEncoder().encode(SECRET) };

// jose checks exp and nbf against the real clock; the cooldown tests move only Date.now, which
// jose's JWKS cache reads, so tokens are dated from the real time.
const realNow = Date.now;
const nowSeconds = () => Math.floor(realNow() / 1000);

/** The claims a valid token carries; a claim set to undefined is left out. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const all: Record<string, unknown> = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: nowSeconds(), exp: nowSeconds() + 300, ...overrides };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined)) as JWTPayload;
}

function aToken(key: SigningKey, overrides: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims(overrides)).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

/** An unsecured token (`alg: none`), built by hand: jose will not sign one. */
function anUnsignedToken(overrides: Record<string, unknown> = {}): string {
  const part = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims(overrides))}.`;
}

/** A JWKS endpoint on 127.0.0.1 whose keys and status the test changes, counting its hits. */
interface JwksServer {
  url: string;
  hits: number;
  keys: JWK[];
  status: number;
  close(): Promise<void>;
}

async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const server = createServer((_req, res) => {
    jwks.hits++;
    if (jwks.status !== 200) res.writeHead(jwks.status).end();
    else res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: jwks.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const jwks: JwksServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    hits: 0,
    keys,
    status: 200,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return jwks;
}

/** Moves the clock jose's JWKS cache reads (Date.now) `ms` further ahead of the real one. */
function advanceJwksClock(ms: number): void {
  const ahead = Date.now() - realNow() + ms;
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + ahead);
}

/** A 401 for a token that is there but not good: the same problem and challenge, whatever failed. */
function assertInvalidToken(res: Response): void {
  assertProblem(res, 401);
  assert.equal(res.body.type, 'urn:schedule-service:problem:invalid-token');
  assert.equal(res.body.detail, INVALID_TOKEN_DETAIL);
  assert.equal(res.headers['www-authenticate'], INVALID_TOKEN_CHALLENGE);
}

function assertTokenRequired(res: Response): void {
  assertProblem(res, 401);
  assert.equal(res.body.type, 'urn:schedule-service:problem:invalid-token');
  assert.equal(res.headers['www-authenticate'], BEARER_CHALLENGE);
}

function caller(app: () => TestApp['app']) {
  const http = () => request(app().getHttpServer());
  return {
    list: (token: string) => http().get('/schedule').set('authorization', `Bearer ${token}`),
    async create(token: string): Promise<string> {
      const res = await http().post('/schedule').set('authorization', `Bearer ${token}`).send(aCreateBody());
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.schedule_id;
    },
    http,
  };
}

describe('jwt mode with a JWKS (RS256 and ES256)', () => {
  let rsa: SigningKey;
  let ec: SigningKey;
  let stranger: SigningKey;
  let jwks: JwksServer;
  let testApp: TestApp;
  const runtimeToken = aRuntimeToken();
  const { list, create, http } = caller(() => testApp.app);

  beforeAll(async () => {
    [rsa, ec, stranger] = await Promise.all([aKeyPair('RS256'), aKeyPair('ES256'), aKeyPair('RS256')]);
    jwks = await startJwksServer([rsa.jwk!, ec.jwk!]);
    testApp = await createTestApp('memory', { auth: jwtAuth({ jwksUrl: jwks.url }), runtimeToken });
  });
  afterAll(async () => {
    await testApp?.close();
    await jwks?.close();
  });

  it('accepts RS256 and ES256 tokens and takes the user from the sub claim', async () => {
    const user = `user-${randomUUID()}`;
    const id = await create(await aToken(rsa, { sub: user }));
    const res = await list(await aToken(ec, { sub: user })).expect(200);
    assert.deepEqual(
      res.body.schedules.map((s: { id: string; user_id: string }) => [s.id, s.user_id]),
      [[id, user]],
    );
  });

  it('ignores x-user-id: alone it is a 401 asking for a token, beside a token the token decides', async () => {
    assertTokenRequired(await http().get('/schedule').set('x-user-id', 'alice'));
    const user = `user-${randomUUID()}`;
    const id = await create(await aToken(rsa, { sub: user }));
    const res = await http().get(`/schedule/${id}`).set('authorization', `Bearer ${await aToken(rsa, { sub: user })}`).set('x-user-id', 'mallory');
    assert.equal(res.status, 200);
    assert.equal(res.body.user_id, user);
    assert.equal((await http().get(`/schedule/${id}`).set('authorization', `Bearer ${await aToken(rsa, { sub: 'mallory' })}`).set('x-user-id', user)).status, 404);
  });

  it('answers every user route without a token with 401 and a bare Bearer challenge, before validating the body', async () => {
    const routes: Array<[string, string]> = [
      ['get', '/schedule'],
      ['post', '/schedule'],
      ['get', '/schedule/x'],
      ['patch', '/schedule/x'],
      ['delete', '/schedule/x'],
      ['get', '/schedule/x/sessions'],
      ['post', '/schedule/x/run'],
      ['get', '/schedule/x/runs'],
      ['get', '/schedule/x/runs/y'],
      ['get', '/schedule/x/next-runs'],
    ];
    for (const [method, path] of routes) {
      const res = await http()[method as 'get'](path).send({ bogus: true });
      assertTokenRequired(res);
      assert.equal(res.body.detail, 'A bearer token is required.', `${method} ${path}`);
    }
  });

  it('refuses every kind of bad token with the same 401, problem body and invalid_token challenge', async () => {
    const now = nowSeconds();
    const good = await aToken(rsa);
    const [header, payload, signature] = good.split('.');
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const otherPayload = base64url.encode(JSON.stringify(claims({ sub: 'mallory' })));
    const cases: Array<[string, string]> = [
      ['expired past the tolerance', await aToken(rsa, { exp: now - 60 })],
      ['not yet valid past the tolerance', await aToken(rsa, { nbf: now + 120 })],
      ['another issuer', await aToken(rsa, { iss: 'https://evil.example.test/' })],
      ['another audience', await aToken(rsa, { aud: 'another-service' })],
      ['no issuer', await aToken(rsa, { iss: undefined })],
      ['no audience', await aToken(rsa, { aud: undefined })],
      ['no expiry', await aToken(rsa, { exp: undefined })],
      ['alg none', anUnsignedToken()],
      ['alg none with a signature', `${anUnsignedToken()}${signature}`],
      ['a tampered signature', `${header}.${payload}.${flipped}`],
      ['a tampered payload', `${header}.${otherPayload}.${signature}`],
      ['no signature', `${header}.${payload}.`],
      ['an unknown kid', await aToken(stranger)],
      ['a known kid, signed by another key', await aToken({ ...stranger, kid: rsa.kid })],
      ['HS256 signed with the public JWK as the secret', await aToken({ alg: 'HS256', kid: rsa.kid, privateKey: new TextEncoder().encode(JSON.stringify(rsa.jwk)) })],
      ['no sub claim', await aToken(rsa, { sub: undefined })],
      ['a numeric sub', await aToken(rsa, { sub: 42 })],
      ['an empty sub', await aToken(rsa, { sub: '' })],
      ['a sub past 256 characters', await aToken(rsa, { sub: 'a'.repeat(257) })],
      ['a sub with a control character', await aToken(rsa, { sub: 'ali\u0007ce' })],
      ['a sub with surrounding spaces', await aToken(rsa, { sub: ' alice ' })],
      ['a sub with a lone surrogate', await aToken(rsa, { sub: 'ali\ud800ce' })],
      ['not a JWT', 'not-a-jwt'],
      ['two dots only', '..'],
    ];
    for (const [name, token] of cases) {
      const res = await list(token);
      assert.equal(res.status, 401, `${name}: ${res.status}`);
      assertInvalidToken(res);
    }
    for (const authorization of [`Basic ${Buffer.from('alice:pw').toString('base64')}`, 'Bearer', `Bearer ${good} extra`, good]) {
      assertInvalidToken(await http().get('/schedule').set('authorization', authorization));
    }
  });

  it('allows 30 s of clock skew on exp and nbf', async () => {
    const now = nowSeconds();
    await list(await aToken(rsa, { exp: now - 10 })).expect(200);
    await list(await aToken(rsa, { nbf: now + 10 })).expect(200);
    assert.equal((await list(await aToken(ec, { exp: now - 10, nbf: now - 20 }))).status, 200);
  });

  it('accepts a sub of exactly 256 characters and reads the user from the token only', async () => {
    const user = 'u'.repeat(256);
    const id = await create(await aToken(rsa, { sub: user }));
    const res = await http().get(`/schedule/${id}`).set('authorization', `Bearer ${await aToken(ec, { sub: user })}`).expect(200);
    assert.equal(res.body.user_id, user);
  });

  it('refuses a request with two Authorization headers', async () => {
    await testApp.app.listen(0, '127.0.0.1');
    const { port } = testApp.app.getHttpServer().address() as AddressInfo;
    const token = await aToken(rsa);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end(`GET /schedule HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 401/);
    assert.match(answer, /www-authenticate: Bearer realm="schedule-service", error="invalid_token"/i);
  });

  it('leaves routes without a user alone, and never reads the runtime token as a JWT', async () => {
    await http().get('/health').expect(200);
    await http().get('/health').set('authorization', 'Bearer not-a-jwt').expect(200);
    const hits = jwks.hits;
    const res = await http()
      .post(`/runtime/runs/${randomUUID()}/status`)
      .set('authorization', `Bearer ${runtimeToken}`)
      .send({ status: 'succeeded' });
    assertProblem(res, 404);
    // A user's valid JWT is not the runtime's token.
    assertProblem(await http().post(`/runtime/runs/${randomUUID()}/status`).set('authorization', `Bearer ${await aToken(rsa)}`).send({ status: 'succeeded' }), 401);
    assert.equal(jwks.hits, hits);
  });
});

describe('jwt mode: JWKS key rotation and refetch limits', () => {
  let first: SigningKey;
  let second: SigningKey;
  let jwks: JwksServer;
  let testApp: TestApp;
  const { list } = caller(() => testApp.app);
  const unknownKidTokens = async (count: number) =>
    Promise.all(Array.from({ length: count }, async () => aToken({ ...first, kid: `unknown-${randomUUID()}` })));

  beforeAll(async () => {
    [first, second] = await Promise.all([aKeyPair('RS256'), aKeyPair('ES256')]);
    jwks = await startJwksServer([first.jwk!]);
    testApp = await createTestApp('memory', { auth: jwtAuth({ jwksUrl: jwks.url }) });
  });
  afterAll(async () => {
    await testApp?.close();
    await jwks?.close();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('fetches the new key for a new kid, and refetches for unknown kids at most once per cooldown', async () => {
    await list(await aToken(first)).expect(200);
    assert.equal(jwks.hits, 1);
    // Within the cooldown of that fetch, unknown kids are refused from the cache.
    for (const token of await unknownKidTokens(10)) assertInvalidToken(await list(token));
    assert.equal(jwks.hits, 1);

    // The issuer rotates: the JWKS now lists only the new key.
    jwks.keys = [second.jwk!];
    advanceJwksClock(JWKS_COOLDOWN_MS + 1000);
    await list(await aToken(second)).expect(200);
    assert.equal(jwks.hits, 2);
    // The retired key is gone with the refetch.
    assertInvalidToken(await list(await aToken(first)));
    assert.equal(jwks.hits, 2);

    // A burst of unknown kids after the next cooldown: one refetch for all of them.
    for (const token of await unknownKidTokens(10)) assertInvalidToken(await list(token));
    assert.equal(jwks.hits, 2);
    advanceJwksClock(JWKS_COOLDOWN_MS + 1000);
    const burst = await Promise.all((await unknownKidTokens(20)).map((token) => list(token)));
    for (const res of burst) assertInvalidToken(res);
    for (const token of await unknownKidTokens(10)) assertInvalidToken(await list(token));
    assert.equal(jwks.hits, 3);
    await list(await aToken(second)).expect(200);
    assert.equal(jwks.hits, 3);
  });

  it('asks a failing JWKS server at most once per cooldown, and keeps using the keys it holds', async () => {
    await list(await aToken(second)).expect(200);
    const before = jwks.hits;
    jwks.status = 503;
    // Past the cache's lifetime (10 min), jose would fetch before every check.
    advanceJwksClock(11 * 60_000);
    await list(await aToken(second)).expect(200);
    for (const token of await unknownKidTokens(10)) assertInvalidToken(await list(token));
    await list(await aToken(second)).expect(200);
    assert.equal(jwks.hits, before + 1);

    advanceJwksClock(JWKS_COOLDOWN_MS + 1000);
    for (const token of await unknownKidTokens(5)) assertInvalidToken(await list(token));
    await list(await aToken(second)).expect(200);
    assert.equal(jwks.hits, before + 2);

    // Back up: the next cooldown's fetch takes the set again.
    jwks.status = 200;
    advanceJwksClock(JWKS_COOLDOWN_MS + 1000);
    await list(await aToken(second)).expect(200);
    assert.equal(jwks.hits, before + 3);
  });
});

describe('jwt mode: an unreachable JWKS server from the start', () => {
  let jwks: JwksServer;
  let testApp: TestApp;
  let key: SigningKey;
  const { list } = caller(() => testApp.app);

  beforeAll(async () => {
    key = await aKeyPair('ES256');
    jwks = await startJwksServer([key.jwk!]);
    jwks.status = 500;
    testApp = await createTestApp('memory', { auth: jwtAuth({ jwksUrl: jwks.url }) });
  });
  afterAll(async () => {
    await testApp?.close();
    await jwks?.close();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('answers 401, never 500, and asks once per cooldown', async () => {
    const tokens = await Promise.all(Array.from({ length: 10 }, () => aToken(key)));
    for (const token of tokens) assertInvalidToken(await list(token));
    assert.equal(jwks.hits, 1);
    jwks.status = 200;
    assertInvalidToken(await list(tokens[0]));
    assert.equal(jwks.hits, 1);
    advanceJwksClock(JWKS_COOLDOWN_MS + 1000);
    await list(tokens[0]).expect(200);
    assert.equal(jwks.hits, 2);
  });
});

describe('jwt mode with JWT_PUBLIC_KEY (PEM)', () => {
  let rsa: SigningKey;
  let other: SigningKey;
  let testApp: TestApp;
  const { list } = caller(() => testApp.app);

  beforeAll(async () => {
    [rsa, other] = await Promise.all([aKeyPair('RS256'), aKeyPair('RS256')]);
    const pem = await exportSPKI(rsa.publicKey!);
    testApp = await createTestApp('memory', { auth: jwtAuth({ publicKey: pem }) });
  });
  afterAll(() => testApp?.close());

  it('accepts tokens the key signed, whatever their kid, and refuses others', async () => {
    await list(await aToken(rsa)).expect(200);
    await list(await aToken({ ...rsa, kid: 'any' })).expect(200);
    assertInvalidToken(await list(await aToken(other)));
    assertInvalidToken(await list(await aToken(rsa, { exp: nowSeconds() - 60 })));
    assertInvalidToken(await list(anUnsignedToken()));
  });

  it('refuses HS256 tokens signed with the PEM as the secret (algorithm confusion)', async () => {
    const pem = await exportSPKI(rsa.publicKey!);
    assertInvalidToken(await list(await aToken({ alg: 'HS256', kid: 'x', privateKey: new TextEncoder().encode(pem) })));
  });
});

describe('jwt mode with JWT_SECRET (HS256) and another user claim', () => {
  let testApp: TestApp;
  const { list, create, http } = caller(() => testApp.app);

  beforeAll(async () => {
    testApp = await createTestApp('memory', { auth: jwtAuth({ secret: SECRET }, { userClaim: 'uid' }) });
  });
  afterAll(() => testApp?.close());

  it('accepts HS256 tokens and takes the user from JWT_USER_CLAIM', async () => {
    const id = await create(await aToken(HS_KEY, { sub: 'someone-else', uid: 'carol' }));
    const res = await http().get(`/schedule/${id}`).set('authorization', `Bearer ${await aToken(HS_KEY, { uid: 'carol' })}`).expect(200);
    assert.equal(res.body.user_id, 'carol');
  });

  it('refuses a token without that claim, another secret, and a token past its expiry', async () => {
    assertInvalidToken(await list(await aToken(HS_KEY)));
    assertInvalidToken(await list(await aToken({ ...HS_KEY, privateKey: new TextEncoder().encode(`${SECRET}-but-another`) }, { uid: 'carol' })));
    assertInvalidToken(await list(await aToken(HS_KEY, { uid: 'carol', exp: nowSeconds() - 31 - 30 })));
    assertInvalidToken(await list(await aToken(HS_KEY, { uid: { id: 'carol' } })));
  });

  it('refuses HS384 when only HS256 is allowed', async () => {
    assertInvalidToken(await list(await aToken({ ...HS_KEY, alg: 'HS384' }, { uid: 'carol' })));
  });
});

describeOnEveryBackend(
  'jwt mode user isolation',
  (backend: BackendHandle) => {
    const http = () => request(backend.app.getHttpServer());
    const as = (user: string) => aToken(HS_KEY, { sub: user });

    it("never shows or changes one user's schedule for another user's token", async () => {
      const [alice, bob] = [`alice-${randomUUID()}`, `bob-${randomUUID()}`];
      const created = await http().post('/schedule').set('authorization', `Bearer ${await as(alice)}`).send(aCreateBody()).expect(201);
      const id = created.body.schedule_id;
      const bobs = `Bearer ${await as(bob)}`;
      assertProblem(await http().get(`/schedule/${id}`).set('authorization', bobs), 404);
      assertProblem(await http().patch(`/schedule/${id}`).set('authorization', bobs).send({ name: 'mine now' }), 404);
      assertProblem(await http().post(`/schedule/${id}/run`).set('authorization', bobs), 404);
      assertProblem(await http().get(`/schedule/${id}/sessions`).set('authorization', bobs), 404);
      assertProblem(await http().delete(`/schedule/${id}`).set('authorization', bobs), 404);
      assert.equal((await http().get('/schedule').set('authorization', bobs).expect(200)).body.total, 0);
      // x-user-id naming alice changes nothing for bob's token.
      assertProblem(await http().get(`/schedule/${id}`).set('authorization', bobs).set('x-user-id', alice), 404);
      const mine = await http().get(`/schedule/${id}`).set('authorization', `Bearer ${await as(alice)}`).expect(200);
      assert.equal(mine.body.data.name, aCreateBody().name);
      assert.equal(mine.body.user_id, alice);
    });
  },
  { auth: jwtAuth({ secret: SECRET }) },
);
