import type { DeliveryResult } from '../domain/delivery.js';
import type { RunOutcome } from '../domain/run.js';

/** The first retry waits up to this long; each later one up to twice the one before. */
export const BACKOFF_BASE_MS = 1000;
/** No jittered wait exceeds this. */
export const BACKOFF_CAP_MS = 5 * 60_000;
/**
 * A runtime's Retry-After is honoured up to this: a hostile or broken header cannot park a run
 * for ever (the run's timeout would end it anyway).
 */
export const RETRY_AFTER_CAP_MS = 60 * 60_000;

/** What one attempt at a webhook came to, as the retry policy needs it. */
export type AttemptAnswer =
  /** The runtime answered with this status. */
  | {
      statusCode: number;
      /** The Retry-After header, if any. */
      retryAfter: string | null;
      /** The run's final status, when a 2xx body carried one. */
      completion: RunOutcome | null;
    }
  /** No answer: a network error or the timeout, described by `error`. */
  | { statusCode: null; error: string };

export type StatusClass = 'delivered' | 'transient' | 'permanent';

/**
 * 2xx delivered; 408, 429 and 5xx are the runtime's passing trouble (retried); anything else,
 * a redirect included (the URL is the operator's to fix), is permanent.
 */
export function classifyStatus(statusCode: number): StatusClass {
  if (statusCode >= 200 && statusCode < 300) return 'delivered';
  if (statusCode === 408 || statusCode === 429 || (statusCode >= 500 && statusCode < 600)) return 'transient';
  return 'permanent';
}

/**
 * Exponential backoff with full jitter: after a failed attempt that had `attemptsMade` attempts
 * before it, the wait is uniform in [0, min(cap, base × 2^attemptsMade)): up to 1 s after the
 * first attempt, 2 s after the second, and so on. The jitter spreads the retries of runs that
 * failed together (a runtime that was down) instead of sending them back as a herd.
 */
export function backoffDelayMs(attemptsMade: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade));
  return Math.floor(random() * ceiling);
}

/**
 * The wait a Retry-After header asks for, in delta-seconds or as an HTTP-date (against `now`; a
 * date in the past means at once), bounded by RETRY_AFTER_CAP_MS; null when it is neither form.
 */
export function retryAfterDelayMs(header: string, now: Date): number | null {
  const value = header.trim();
  let delayMs: number;
  if (/^\d+$/.test(value)) {
    delayMs = Number(value) * 1000;
  } else {
    const at = Date.parse(value);
    if (Number.isNaN(at) || !/[a-z]/i.test(value)) return null; // Date.parse takes bare numbers too
    delayMs = Math.max(0, at - now.getTime());
  }
  return Math.min(delayMs, RETRY_AFTER_CAP_MS);
}

/** Why an attempt with this answer did not deliver; null when it did. */
export function attemptError(answer: AttemptAnswer): string | null {
  if (answer.statusCode === null) return answer.error;
  const statusClass = classifyStatus(answer.statusCode);
  if (statusClass === 'delivered') return null;
  const redirect = answer.statusCode >= 300 && answer.statusCode < 400;
  return `HTTP ${answer.statusCode}${redirect ? ' (redirects are not followed)' : ''}`;
}

/**
 * What an attempt leads to: delivered or completed on a 2xx; a retry after a transient failure
 * (after the runtime's Retry-After on 429 and 503, else after backoffDelayMs); gave-up on a
 * permanent failure, or when this was attempt number `maxAttempts`.
 *
 * `attemptsMade` counts the attempts before this one; `now` is when this one ended.
 */
export function deliveryResult(
  answer: AttemptAnswer,
  attemptsMade: number,
  maxAttempts: number,
  now: Date,
  random: () => number = Math.random,
): DeliveryResult {
  const error = attemptError(answer);
  if (error === null) {
    const completion = answer.statusCode !== null ? answer.completion : null;
    return completion ? { outcome: 'completed', ...completion } : { outcome: 'delivered' };
  }
  const transient = answer.statusCode === null || classifyStatus(answer.statusCode) === 'transient';
  const attempts = attemptsMade + 1;
  if (!transient) return { outcome: 'gave-up', error };
  if (attempts >= maxAttempts) {
    return { outcome: 'gave-up', error: `${error} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})` };
  }
  const asked =
    answer.statusCode === 429 || answer.statusCode === 503 ? retryAfterDelayMs(answer.retryAfter ?? '', now) : null;
  const delayMs = asked ?? backoffDelayMs(attemptsMade, random);
  return { outcome: 'retry', nextAttemptAt: new Date(now.getTime() + delayMs) };
}
