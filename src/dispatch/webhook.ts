import { performance } from 'node:perf_hooks';
import { Webhook } from 'standardwebhooks';
import { type Dispatcher, Pool } from 'undici';
import type { DispatchConfig } from '../config/app-config.js';
import type { ClaimedDelivery } from '../domain/delivery.js';
import { type RunOutcome, runUsageFromWire } from '../domain/run.js';
import { toRunResponse } from '../wire/run.response.js';
import { toScheduleResponse } from '../wire/schedule.response.js';
import { toSessionResponse } from '../wire/session.response.js';
import type { AttemptAnswer } from './retry-policy.js';

export const WEBHOOK_EVENT_TYPE = 'schedule.fired';
export const WEBHOOK_USER_AGENT = 'schedule-service-dispatcher/1';
/** Of the runtime's answer, only this much is read: enough for a completion, not a memory hazard. */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** An attempt's (or a completion's) error is kept to this many characters. */
export const MAX_ERROR_LENGTH = 500;

/**
 * The webhook's body: the run, its schedule and its session, each exactly as the API returns
 * them, and `timestamp` = `now` (when it is sent).
 */
export function webhookBody(delivery: ClaimedDelivery, now: Date): string {
  return JSON.stringify({
    type: WEBHOOK_EVENT_TYPE,
    timestamp: now.toISOString(),
    data: {
      run: toRunResponse(delivery.run),
      schedule: toScheduleResponse(delivery.schedule),
      session: delivery.session ? toSessionResponse(delivery.session) : null,
    },
  });
}

/** One attempt: what the runtime answered (or why it did not), and how long the exchange took. */
export interface SentWebhook {
  answer: AttemptAnswer;
  durationMs: number;
  /** When it was sent, on the performance clock (performance.now()). */
  sentAt: number;
}

/**
 * POSTs signed webhooks (Standard Webhooks) to the configured URL over a keep-alive pool of at
 * most `connections` connections (undici's Pool, which Node's fetch runs on, without fetch's
 * WHATWG layers): a webhook does not pay for a TCP (or TLS) handshake. An attempt never throws:
 * every failure is an answer without a status code and with an error that says what happened.
 */
export class WebhookSender {
  private readonly signer: Webhook;
  private readonly pool: Pool;
  private readonly path: string;

  constructor(private readonly config: Pick<DispatchConfig, 'url' | 'secret' | 'timeoutMs'> & { connections: number }) {
    this.signer = new Webhook(config.secret);
    const url = new URL(config.url);
    this.path = `${url.pathname}${url.search}`;
    // Idle connections are kept a minute (the runtime's server may close them sooner: undici then
    // opens another); a request is bounded by the attempt's timeout below, not by undici's.
    this.pool = new Pool(url.origin, { connections: Math.max(1, config.connections), keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
  }

  /** Sends `body` as message `msgId` (the run id: the runtime deduplicates retries by it). */
  async send(msgId: string, body: string): Promise<SentWebhook> {
    const started = performance.now();
    const answer = await this.exchange(msgId, body).catch((error: unknown) => ({
      statusCode: null,
      error: this.describeFailure(error),
    }));
    return { answer, durationMs: Math.round(performance.now() - started), sentAt: started };
  }

  /** Closes the pool's connections, once the requests in flight have ended. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async exchange(msgId: string, body: string): Promise<AttemptAnswer> {
    // The real wall clock, not the injected one: the runtime checks webhook-timestamp against its
    // own clock (within 5 minutes, as the Standard Webhooks verifier does) to refuse replays.
    const sentAt = new Date();
    const response = await this.pool.request({
      path: this.path,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': WEBHOOK_USER_AGENT,
        'webhook-id': msgId,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': this.signer.sign(msgId, sentAt, body),
      },
      body,
      // Covers the whole exchange: connecting, sending, and reading the answer below. (A redirect
      // is an answer, a permanent failure, never followed: the URL is the operator's.)
      signal: AbortSignal.timeout(this.config.timeoutMs),
    });
    const retryAfter = headerValue(response.headers['retry-after']);
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await response.body.dump().catch(() => undefined);
      return { statusCode: response.statusCode, retryAfter, completion: null };
    }
    const text = await readAtMost(response.body, MAX_ANSWER_BYTES);
    return { statusCode: response.statusCode, retryAfter, completion: parseCompletion(text) };
  }

  /** The error of an attempt without an answer, bounded, and never showing the URL (it may hold credentials). */
  private describeFailure(error: unknown): string {
    if (errorField(error, 'name') === 'TimeoutError') return `timed out after ${this.config.timeoutMs} ms`;
    return storableError(networkErrorMessage(error).split(this.config.url).join('<DISPATCH_URL>'));
  }
}

function headerValue(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/**
 * The root cause of a failed request: the socket's error, or an AggregateError of one per address
 * when several were tried (fetch would wrap it as the cause of "fetch failed"). Duck-typed: the
 * errors may come from another realm than this module's Error.
 */
function networkErrorMessage(error: unknown): string {
  let root = errorField(error, 'cause') ?? error;
  const aggregated = errorField(root, 'errors');
  if (Array.isArray(aggregated) && aggregated.length > 0) root = aggregated[0];
  const described = errorField(root, 'message') || errorField(root, 'code') || errorField(error, 'message');
  return typeof described === 'string' && described !== '' ? described : String(error);
}

function errorField(error: unknown, field: 'name' | 'message' | 'code' | 'cause' | 'errors'): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[field] : undefined;
}

/** The body's text, or null when it is longer than `limit` bytes (the rest is not read). */
async function readAtMost(body: Dispatcher.ResponseData['body'], limit: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A 2xx body of `{"status": "succeeded" | "failed", "error"?: string, "usage"?: {…}}`: the runtime
 * ran the task before answering, and this is its outcome. Anything else (no body, other JSON) is
 * not one. A `usage` that is not one (runUsageFromWire) is left out: the outcome still counts.
 */
export function parseCompletion(text: string | null): RunOutcome | null {
  if (!text) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { status, error, usage } = value as Record<string, unknown>;
  if (status !== 'succeeded' && status !== 'failed') return null;
  if (error !== undefined && error !== null && typeof error !== 'string') return null;
  return {
    status,
    error: status === 'failed' && typeof error === 'string' ? storableError(error) : null,
    usage: runUsageFromWire(usage),
  };
}

/** Bounded to MAX_ERROR_LENGTH, and storable on every backend (no NUL, no lone surrogate). */
export function storableError(text: string): string {
  const bounded = text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
  return bounded.toWellFormed().replaceAll('\u0000', '');
}
