import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from '../api/client.js';

export type Loaded<T> = { state: 'loading' } | { state: 'failed'; message: string; status?: number } | { state: 'ready'; value: T };

/**
 * Loads `load()` whenever a dependency changes. Once something is shown it stays until the new
 * answer replaces it (no flash of "Loading…" after an action or on the next page).
 */
export function useLoaded<T>(load: () => Promise<T>, dependencies: readonly unknown[]): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  // Only the latest load may show: an older answer that arrives late is dropped.
  const latest = useRef(0);
  const run = useCallback(async () => {
    const call = ++latest.current;
    try {
      const value = await load();
      if (call === latest.current) setLoaded({ state: 'ready', value });
    } catch (error) {
      if (call === latest.current) setLoaded({ state: 'failed', message: messageOf(error), status: (error as { status?: number }).status });
    }
    // `load` is a new closure each render; the dependencies say when it means something new.
  }, dependencies);
  useEffect(() => {
    void run();
  }, [run]);
  return loaded;
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
