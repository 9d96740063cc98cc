import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type DispatchConfig, DISPATCH_DEFAULTS } from '../../src/config/app-config.js';

/** A fresh runtime bearer token, as an operator would generate one. */
export function aRuntimeToken(): string {
  return `rt_${randomBytes(24).toString('hex')}`;
}

/** A fresh Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
export function aWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Dispatch on, delivery off: fires are handed over (their runs stay active until the runtime
 * reports or they time out), but this process delivers nothing (the URL is never called).
 */
export function undeliveredDispatch(): DispatchConfig {
  return { ...DISPATCH_DEFAULTS, url: 'http://127.0.0.1:9/hook', secret: aWebhookSecret(), enabled: false };
}

export interface InjectedReply {
  status: number;
  headers: Record<string, unknown>;
  body: any;
}

/** One request through Fastify's inject, JSON in and out: the status, headers and parsed body. */
export async function injectJson(
  app: NestFastifyApplication,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<InjectedReply> {
  const res = await app.inject({
    method,
    url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body === '' ? undefined : JSON.parse(res.body) };
}
