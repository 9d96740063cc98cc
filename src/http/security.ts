import helmet from '@fastify/helmet';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The Content-Security-Policy of every response. The API's are JSON; the one page, Swagger UI at
 * /docs, loads its scripts, styles and icons from /docs/*, has inline <style> blocks and style
 * attributes, data: images in its CSS, and calls the API from the page ("Try it out").
 * connect-src 'self' also keeps its `?url=` parameter from loading a document from elsewhere.
 */
export const CONTENT_SECURITY_POLICY = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'", 'data:'],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
};

/** What a browser app on a listed origin may send, and read back. */
export const CORS_ALLOWED_HEADERS = ['content-type', 'x-user-id', 'authorization', 'if-match', 'x-request-id'];
export const CORS_EXPOSED_HEADERS = [
  'etag',
  'retry-after',
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
];
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Security headers on every response (@fastify/helmet), and CORS for the listed origins only:
 * none listed, no CORS headers at all, so browsers keep other sites from the API.
 */
export async function registerSecurity(app: NestFastifyApplication, corsOrigins: readonly string[]): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY },
    frameguard: { action: 'deny' },
  });
  if (corsOrigins.length === 0) return;
  app.enableCors({
    origin: [...corsOrigins],
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // Identity travels in headers, never in cookies.
    credentials: false,
    maxAge: 600,
  });
}
