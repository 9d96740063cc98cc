import { useEffect, useState } from 'preact/hooks';

/** The console's pages, addressed by the URL's hash so that the service serves one page for all of them. */
export type Route =
  | { page: 'sign-in' }
  | { page: 'schedules'; query: URLSearchParams }
  | { page: 'new-schedule' }
  | { page: 'schedule'; scheduleId: string }
  | { page: 'edit-schedule'; scheduleId: string }
  | { page: 'run'; scheduleId: string; runId: string }
  | { page: 'not-found'; path: string };

export function parseRoute(hash: string): Route {
  const [path, search = ''] = hash.replace(/^#/, '').split('?', 2);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'schedules', query: new URLSearchParams(search) };
  if (parts[0] === 'sign-in' && parts.length === 1) return { page: 'sign-in' };
  if (parts[0] === 'new' && parts.length === 1) return { page: 'new-schedule' };
  if (parts[0] === 'schedules' && parts.length === 2) return { page: 'schedule', scheduleId: parts[1] };
  if (parts[0] === 'schedules' && parts.length === 3 && parts[2] === 'edit') return { page: 'edit-schedule', scheduleId: parts[1] };
  if (parts[0] === 'schedules' && parts.length === 4 && parts[2] === 'runs') return { page: 'run', scheduleId: parts[1], runId: parts[3] };
  return { page: 'not-found', path };
}

/** Links, built in one place. */
export const links = {
  schedules: (query?: URLSearchParams) => `#/${query && [...query].length > 0 ? `?${query}` : ''}`,
  newSchedule: () => '#/new',
  schedule: (scheduleId: string) => `#/schedules/${encodeURIComponent(scheduleId)}`,
  editSchedule: (scheduleId: string) => `#/schedules/${encodeURIComponent(scheduleId)}/edit`,
  run: (scheduleId: string, runId: string) => `#/schedules/${encodeURIComponent(scheduleId)}/runs/${encodeURIComponent(runId)}`,
  signIn: () => '#/sign-in',
};

export function navigate(link: string): void {
  location.hash = link.replace(/^#/, '');
}

/** The current route, following the address bar. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  return route;
}
