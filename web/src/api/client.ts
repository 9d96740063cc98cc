import createClient from 'openapi-fetch';
// The client generated from docs/openapi.json, the contract the service's tests hold it to
// (`npm run openapi` regenerates it; test/typed-client.e2e-spec.ts fails while it is stale).
import type { components, paths } from '../../../examples/schedule-api.js';
import { credentialHeaders, currentCredentials, signOut } from '../auth/credentials.js';

export type Schemas = components['schemas'];
export type Schedule = Schemas['ScheduleResponse'];
export type ScheduleBody = Schemas['CreateScheduleDto'];
export type Run = Schemas['RunResponse'];
export type RunDetail = Schemas['RunDetailResponse'];
export type Session = Schemas['SessionResponse'];
export type NextRun = Schemas['NextRunResponse'];
export type RunStatus = Run['status'];
export type FieldError = Schemas['FieldErrorResponse'];

/** An RFC 9457 problem the API answered, with its field errors when it is a 422. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: readonly FieldError[] = [],
  ) {
    super(detail || title);
  }
}

/** The public API, on this origin, as the signed-in user. A 401 signs the tab out. */
export const api = createClient<paths>({ baseUrl: location.origin });
api.use({
  onRequest({ request }) {
    const credentials = currentCredentials();
    if (credentials) for (const [name, value] of Object.entries(credentialHeaders(credentials))) request.headers.set(name, value);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && currentCredentials()) signOut('Your session ended: sign in again.');
    return response;
  },
});

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, or an ApiProblem for an error answer (a problem body, or whatever came back). */
export async function ok<T>(pending: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (response.ok) return data as T;
  const problem = (error ?? {}) as { title?: string; detail?: string; errors?: FieldError[] };
  throw new ApiProblem(response.status, problem.title ?? response.statusText, problem.detail ?? '', problem.errors ?? []);
}

/** A message for anything a request threw. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiProblem) return error.detail || `${error.status} ${error.title}`;
  return error instanceof Error ? error.message : String(error);
}
