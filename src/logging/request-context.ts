import { AsyncLocalStorage } from 'node:async_hooks';

const requestIds = new AsyncLocalStorage<string>();

/** The id of the request being served, for log lines written outside Fastify's request logger (Nest's). */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}

/** Runs `fn` (and what it schedules) as part of the request with this id. */
export function runInRequest<T>(requestId: string, fn: () => T): T {
  return requestIds.run(requestId, fn);
}
