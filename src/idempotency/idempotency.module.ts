import { Module } from '@nestjs/common';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { IdempotencyPrunerService } from './idempotency-pruner.service.js';

/** Idempotency-Key for the routes marked @Idempotent(), and the pruning of expired keys. */
@Module({ providers: [IdempotencyInterceptor, IdempotencyPrunerService], exports: [IdempotencyInterceptor] })
export class IdempotencyModule {}
