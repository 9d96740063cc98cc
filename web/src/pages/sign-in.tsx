import { useEffect, useState } from 'preact/hooks';
import { api, messageOf, ok } from '../api/client.js';
import { type AuthMode, credentialHeaders, type Credentials, detectAuthMode, signIn } from '../auth/credentials.js';
import { ErrorNote } from '../components/async.js';
import { Field } from '../components/field.js';
import { links, navigate } from '../router.js';

/**
 * Sign in the way the service is configured: a user id (header mode) or a bearer token (jwt mode),
 * checked with one request before it is kept in this tab.
 */
export function SignInPage({ reason }: { reason: string | null }) {
  const [mode, setMode] = useState<AuthMode | null>(null);
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    detectAuthMode().then(setMode, (failure) => setError(messageOf(failure)));
  }, []);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    const value = String(new FormData(event.currentTarget as HTMLFormElement).get('credential') ?? '').trim();
    if (!value) return setError(mode === 'jwt' ? 'Paste a token.' : 'Enter your user ID.');
    const credentials: Credentials = mode === 'jwt' ? { mode: 'jwt', token: value } : { mode: 'header', userId: value };
    setBusy(true);
    try {
      // One cheap read proves the credentials before the console keeps them.
      await ok(api.GET('/schedule', { params: { query: { limit: 1 } }, headers: credentialHeaders(credentials) }));
      signIn(credentials);
      // Back to the page that was asked for, or to the schedules.
      if (location.hash === '' || location.hash === links.signIn()) navigate(links.schedules());
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="narrow">
      <h1>Sign in</h1>
      {mode === null && !error && <p class="muted">Reading how this service signs users in…</p>}
      {mode && (
        <form onSubmit={submit}>
          <p>
            {mode === 'jwt'
              ? 'This service identifies you with a bearer token (a JWT) from your identity provider.'
              : 'This service identifies you by your user ID, sent as the x-user-id header.'}{' '}
            It is kept in this browser tab only.
          </p>
          <Field id="credential" label={mode === 'jwt' ? 'Bearer token' : 'User ID'}>
            {(describedBy) =>
              mode === 'jwt' ? (
                <textarea id="credential" name="credential" rows={4} autocomplete="off" spellcheck={false} aria-describedby={describedBy} />
              ) : (
                <input id="credential" name="credential" autocomplete="username" aria-describedby={describedBy} />
              )
            }
          </Field>
          <ErrorNote message={error} />
          <button type="submit" class="primary" disabled={busy}>
            Sign in
          </button>
        </form>
      )}
      {mode === null && <ErrorNote message={error} />}
    </main>
  );
}
