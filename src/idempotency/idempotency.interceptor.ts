import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  applyDecorators,
  type CallHandler,
  type ExecutionContext,
  HttpStatus,
  Injectable,
  type NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { ApiConflictResponse, ApiHeader } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { from, type Observable, of } from 'rxjs';
import { catchError, mergeMap } from 'rxjs/operators';
import type { RequestUser } from '../auth/identity.guard.js';
import { Clock } from '../common/clock.js';
import { IdempotencyKeyInProgress, IdempotencyKeyReused, ValidationFailed } from '../common/domain-errors.js';
import { ProblemDetails } from '../common/problem-details.js';
import { type IdempotencyClaim, IdempotencyStorage } from '../storage/ports/idempotency.storage.js';

/** How long a key keeps its answer. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;
/** How long a duplicate waits for the first request with its key to be answered (then 409). */
export const IDEMPOTENCY_WAIT_MS = 10_000;
const POLL_MS = 20;
/** 1–255 printable ASCII characters, as most APIs with the header take them. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * Makes a route idempotent under an `Idempotency-Key` header (README "Idempotency"): the same
 * key from the same user within 24 h answers what the first request answered (same status, same
 * body) and does nothing more, also while that first request is still being handled (the
 * duplicate waits for it); the key with another request (route or body) is 422
 * `…:idempotency-key-reused`. Only successful answers are kept: after an error the key is free
 * again, so that a retry can succeed. Without the header, the route is as it was.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly storage: IdempotencyStorage,
    private readonly clock: Clock,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<FastifyRequest & { user: RequestUser }>();
    const key = request.headers['idempotency-key'];
    if (key === undefined) return next.handle();
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new ValidationFailed([{ field: 'Idempotency-Key', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }]);
    }
    const userId = request.user.id;
    const fingerprint = requestFingerprint(request);
    const claim = await this.claim(userId, key, fingerprint);
    if (claim.status === 'replay') return of(JSON.parse(claim.answer.body));
    const status = successStatus(context, request.method);
    return next.handle().pipe(
      mergeMap((body) => from(this.storage.completeKey(userId, key, { statusCode: status, body: JSON.stringify(body) }).then(() => body))),
      catchError((error: unknown) =>
        from(
          this.storage
            .releaseKey(userId, key)
            .catch(() => undefined)
            .then(() => Promise.reject(error)),
        ),
      ),
    );
  }

  /** Claims the key; a duplicate of a request still being handled waits for its answer (at most IDEMPOTENCY_WAIT_MS). */
  private async claim(userId: string, key: string, fingerprint: string): Promise<Exclude<IdempotencyClaim, { status: 'in-progress' | 'mismatch' }>> {
    const deadline = Date.now() + IDEMPOTENCY_WAIT_MS;
    for (;;) {
      const now = this.clock.now();
      const claim = await this.storage.claimKey(userId, key, fingerprint, now, new Date(now.getTime() - IDEMPOTENCY_KEY_TTL_MS));
      if (claim.status === 'mismatch') throw new IdempotencyKeyReused(key);
      if (claim.status !== 'in-progress') return claim;
      if (Date.now() >= deadline) throw new IdempotencyKeyInProgress(key);
      await sleep(POLL_MS);
    }
  }
}

/** What the request is, for telling a retry from another request with the same key: route, path and body (keys in any order). */
export function requestFingerprint(request: Pick<FastifyRequest, 'method' | 'url' | 'body'>): string {
  const path = request.url.split('?')[0];
  return createHash('sha256')
    .update(`${request.method} ${path}\n${canonicalJson(request.body ?? null)}`)
    .digest('hex');
}

/** JSON with every object's keys sorted: the same document gives the same text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The status the route answers on success: its @HttpCode, else Nest's default for the method. */
function successStatus(context: ExecutionContext, method: string): number {
  const code = Reflect.getMetadata('__httpCode__', context.getHandler()) as number | undefined;
  return code ?? (method === 'POST' ? HttpStatus.CREATED : HttpStatus.OK);
}

/** Makes the route idempotent under `Idempotency-Key` (IdempotencyInterceptor), and documents the header. */
export const Idempotent = (): MethodDecorator =>
  applyDecorators(
    UseInterceptors(IdempotencyInterceptor),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Up to 255 printable ASCII characters, unique per request you mean (a UUID): a retry with the same key within 24 h ' +
        'answers what the first answered and does nothing more, even while the first is still running; the key with another ' +
        'body is 422 (`…:idempotency-key-reused`). Only successful answers are kept: after an error the key is free again.',
    }),
    ApiConflictResponse({ description: 'A request with this Idempotency-Key is still running after 10 s: retry later.', type: ProblemDetails }),
  );
