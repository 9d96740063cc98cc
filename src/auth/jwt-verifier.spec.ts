import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { JWT_ASYMMETRIC_ALGORITHMS, type JwtConfig } from '../config/app-config.js';
import { JwtVerifier, UnusableUserClaim } from './jwt-verifier.js';

const SECRET = 'unit-test-hs256-secret-0123456789abcdef';

function config(overrides: Partial<JwtConfig>): JwtConfig {
  return {
    jwksUrl: null,
    publicKey: null,
    secret: null,
    algorithms: ['HS256'],
    issuer: 'https://issuer.example.test/',
    audience: 'schedule-service',
    userClaim: 'sub',
    clockToleranceSeconds: 30,
    ...overrides,
  };
}

function sign(claims: JWTPayload, key: Parameters<SignJWT['sign']>[0] = new TextEncoder().encode(SECRET), alg = 'HS256'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: 'https://issuer.example.test/', aud: 'schedule-service', exp: now + 60, ...claims })
    .setProtectedHeader({ alg })
    .sign(key);
}

describe('JwtVerifier', () => {
  it('reads the user claim when it is a usable user id, and refuses it otherwise', async () => {
    const verifier = await JwtVerifier.create(config({ secret: SECRET }));
    assert.equal(await verifier.userIdOf(await sign({ sub: 'alice' })), 'alice');
    assert.equal(await verifier.userIdOf(await sign({ sub: 'a'.repeat(256) })), 'a'.repeat(256));
    const unusable: unknown[] = [undefined, '', ' ', ' alice', 'a'.repeat(257), 'a\u0000b', 'a\nb', 'a\u007fb', 'a\ud800b', 42, null, ['alice'], { id: 'alice' }];
    for (const sub of unusable) {
      const token = await sign(sub === undefined ? {} : ({ sub } as JWTPayload));
      await assert.rejects(verifier.userIdOf(token), UnusableUserClaim, JSON.stringify(sub));
    }
  });

  it('reads another claim when configured to', async () => {
    const verifier = await JwtVerifier.create(config({ secret: SECRET, userClaim: 'https://example.test/user_id' }));
    assert.equal(await verifier.userIdOf(await sign({ sub: 'x', 'https://example.test/user_id': 'bob' })), 'bob');
    await assert.rejects(verifier.userIdOf(await sign({ sub: 'x' })), UnusableUserClaim);
  });

  it('requires an expiry', async () => {
    const verifier = await JwtVerifier.create(config({ secret: SECRET }));
    const token = await new SignJWT({ iss: 'https://issuer.example.test/', aud: 'schedule-service', sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    await assert.rejects(verifier.userIdOf(token), /"exp"/);
  });

  it('imports a PEM key for each allowed algorithm it suits, and refuses one that suits none at start-up', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const verifier = await JwtVerifier.create(config({ publicKey: pem, algorithms: [...JWT_ASYMMETRIC_ALGORITHMS] }));
    assert.equal(await verifier.userIdOf(await sign({ sub: 'carol' }, privateKey, 'ES256')), 'carol');
    await assert.rejects(JwtVerifier.create(config({ publicKey: pem, algorithms: ['RS256', 'ES384'] })), /JWT_PUBLIC_KEY: the key suits none of the allowed algorithms \(RS256, ES384\)/);
  });

  it('refuses a configuration without a key', async () => {
    await assert.rejects(JwtVerifier.create(config({})), /JWT_JWKS_URL, JWT_PUBLIC_KEY and JWT_SECRET/);
  });
});
