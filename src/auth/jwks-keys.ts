import { Logger } from '@nestjs/common';
import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTVerifyGetKey } from 'jose';

/** An unknown `kid` makes the service fetch the key set again at most this often. */
export const JWKS_COOLDOWN_MS = 30_000;
/** How long one fetch of the key set may take. */
export const JWKS_TIMEOUT_MS = 5_000;

/** Whether `error` says the key set could not be fetched (rather than that it holds no key for the token). */
function isFetchFailure(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true; // fetch's own TypeError: refused, reset, DNS
  return error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
}

/**
 * The keys of the JWKS at `url`, cached by jose, which fetches the set again for an unknown `kid`
 * at most once per JWKS_COOLDOWN_MS. jose counts that cooldown from the last fetch that
 * succeeded, so while the JWKS server is down every token would ask it again: after a failed
 * fetch, tokens are checked against the keys already held, without asking, for one cooldown.
 */
export function remoteKeys(url: string): JWTVerifyGetKey {
  const logger = new Logger('JwksKeys');
  const where = new URL(url);
  const remote = createRemoteJWKSet(where, { cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: JWKS_TIMEOUT_MS });
  let failedAt = -Infinity;
  let held: JWTVerifyGetKey | null = null;

  const fromHeld: JWTVerifyGetKey = (header, token) => {
    if (!held) throw new errors.JWKSNoMatchingKey();
    return held(header, token);
  };

  return async (header, token) => {
    if (Date.now() < failedAt + JWKS_COOLDOWN_MS) return fromHeld(header, token);
    try {
      return await remote(header, token);
    } catch (error) {
      if (!isFetchFailure(error)) throw error;
      failedAt = Date.now();
      const jwks = remote.jwks();
      held = jwks ? createLocalJWKSet(jwks) : null;
      // The origin and path only: a query string could carry a credential.
      logger.warn(
        `JWKS ${where.origin}${where.pathname} could not be fetched (${error instanceof Error ? error.message : String(error)}); ` +
          `using the ${held ? 'keys already held' : 'no keys'} for ${JWKS_COOLDOWN_MS / 1000} s`,
      );
      return fromHeld(header, token);
    }
  };
}
