import { type CryptoKey, errors, importSPKI, type JWTVerifyGetKey, type JWTVerifyOptions, jwtVerify } from 'jose';
import type { JwtConfig } from '../config/app-config.js';
import { remoteKeys } from './jwks-keys.js';
import { isUsableUserId } from './user-id.js';

/** A verified token whose user claim cannot name a user (missing, not a string, too long, control characters). */
export class UnusableUserClaim extends Error {
  readonly code = 'ERR_UNUSABLE_USER_CLAIM';
  constructor(claim: string) {
    super(`the "${claim}" claim is not a usable user id`);
  }
}

/**
 * Verifies users' bearer tokens (jwt mode): the signature with the configured key (a JWKS, a PEM
 * public key or an HS secret), one of the allowed algorithms, issuer, audience, exp and nbf with
 * the configured clock tolerance; then reads the user id from the user claim.
 */
export class JwtVerifier {
  private constructor(
    private readonly key: JWTVerifyGetKey | Uint8Array,
    private readonly options: JWTVerifyOptions,
    private readonly userClaim: string,
  ) {}

  /** Throws at start-up when JWT_PUBLIC_KEY suits none of the allowed algorithms. */
  static async create(config: JwtConfig): Promise<JwtVerifier> {
    const options: JWTVerifyOptions = {
      algorithms: config.algorithms,
      issuer: config.issuer,
      audience: config.audience,
      clockTolerance: config.clockToleranceSeconds,
      // A token without an expiry would be good forever once leaked.
      requiredClaims: ['exp'],
    };
    if (config.jwksUrl) return new JwtVerifier(remoteKeys(config.jwksUrl), options, config.userClaim);
    if (config.publicKey) {
      const keys = await importPublicKey(config.publicKey, config.algorithms);
      const key: JWTVerifyGetKey = (header) => {
        const forAlgorithm = keys.get(header.alg);
        if (!forAlgorithm) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
        return forAlgorithm;
      };
      return new JwtVerifier(key, { ...options, algorithms: [...keys.keys()] }, config.userClaim);
    }
    if (config.secret) return new JwtVerifier(new TextEncoder().encode(config.secret), options, config.userClaim);
    throw new Error('jwt mode needs one of JWT_JWKS_URL, JWT_PUBLIC_KEY and JWT_SECRET');
  }

  /** The user id `token` names; throws (a jose error or UnusableUserClaim) when it is not valid. */
  async userIdOf(token: string): Promise<string> {
    const { payload } =
      typeof this.key === 'function' ? await jwtVerify(token, this.key, this.options) : await jwtVerify(token, this.key, this.options);
    const userId = payload[this.userClaim];
    if (typeof userId !== 'string' || !isUsableUserId(userId)) throw new UnusableUserClaim(this.userClaim);
    return userId;
  }
}

/**
 * The PEM key once per algorithm it suits (WebCrypto binds a key to one algorithm: an RSA key
 * serves RS256 and PS256 as two keys), so that jwtVerify's `algorithms` can be exactly those.
 */
async function importPublicKey(pem: string, algorithms: string[]): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  for (const algorithm of algorithms) {
    try {
      keys.set(algorithm, await importSPKI(pem, algorithm));
    } catch {
      // Not this key's kind (an EC key for RS256, a P-384 key for ES256): not an algorithm it can verify.
    }
  }
  if (keys.size === 0) throw new Error(`JWT_PUBLIC_KEY: the key suits none of the allowed algorithms (${algorithms.join(', ')})`);
  return keys;
}
