/**
 * Who the console acts as, kept in this tab's session storage only (never a cookie, never local
 * storage): a user id in header mode, a bearer token in jwt mode, as the service is configured.
 */
export type Credentials = { mode: 'header'; userId: string } | { mode: 'jwt'; token: string };
export type AuthMode = Credentials['mode'];

const KEY = 'schedule-console.credentials';
const listeners = new Set<(reason: string | null) => void>();

export function currentCredentials(): Credentials | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Credentials | null;
    if (stored?.mode === 'header' && typeof stored.userId === 'string') return stored;
    if (stored?.mode === 'jwt' && typeof stored.token === 'string') return stored;
  } catch {
    // An unreadable entry is no credentials.
  }
  return null;
}

export function credentialHeaders(credentials: Credentials): Record<string, string> {
  return credentials.mode === 'header' ? { 'x-user-id': credentials.userId } : { authorization: `Bearer ${credentials.token}` };
}

export function signIn(credentials: Credentials): void {
  sessionStorage.setItem(KEY, JSON.stringify(credentials));
  for (const listener of listeners) listener(null);
}

/** Forgets the credentials; `reason` is shown on the sign-in page. */
export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(KEY);
  for (const listener of listeners) listener(reason);
}

/** Called on every sign-in (null) and sign-out (its reason); returns the unsubscribe. */
export function onCredentialsChange(listener: (reason: string | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * How this service identifies its users, read from its published OpenAPI document (/docs-json):
 * the `user` scheme is an `x-user-id` API key in header mode and a bearer JWT in jwt mode.
 */
export async function detectAuthMode(): Promise<AuthMode> {
  const response = await fetch('/docs-json');
  if (!response.ok) throw new Error(`The service's API description is unavailable (${response.status}).`);
  const document = (await response.json()) as { components?: { securitySchemes?: Record<string, { type?: string; scheme?: string }> } };
  const scheme = document.components?.securitySchemes?.user;
  return scheme?.type === 'http' && scheme.scheme === 'bearer' ? 'jwt' : 'header';
}
