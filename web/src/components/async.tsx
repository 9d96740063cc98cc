import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { messageOf } from '../api/client.js';

export type Loaded<T> = { state: 'loading' } | { state: 'failed'; message: string; status?: number } | { state: 'ready'; value: T };

/** Loads `load()` whenever a dependency changes; `reload` fetches again without blanking what is shown. */
export function useLoaded<T>(load: () => Promise<T>, dependencies: readonly unknown[]): [Loaded<T>, () => Promise<void>] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const run = useCallback(async () => {
    try {
      setLoaded({ state: 'ready', value: await load() });
    } catch (error) {
      setLoaded({ state: 'failed', message: messageOf(error), status: (error as { status?: number }).status });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, dependencies);
  useEffect(() => {
    setLoaded({ state: 'loading' });
    void run();
  }, [run]);
  return [loaded, run];
}

/** Shows a loading line, an error, or the value. */
export function Show<T>({ loaded, children }: { loaded: Loaded<T>; children: (value: T) => ComponentChildren }) {
  if (loaded.state === 'loading') return <p class="muted" aria-live="polite">Loading…</p>;
  if (loaded.state === 'failed') return <ErrorNote message={loaded.message} />;
  return <>{children(loaded.value)}</>;
}

export function ErrorNote({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p class="error-note" role="alert">
      {message}
    </p>
  );
}
