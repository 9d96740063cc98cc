import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { METRICS_PATH } from './metrics.controller.js';
import { Metrics, UNMATCHED_ROUTE } from './metrics.js';

/**
 * The request duration histogram, by route template, method and status, observed when each
 * response has been sent (Fastify's elapsedTime counts from the request's arrival). Nothing is
 * registered when metrics are off.
 */
export function registerHttpMetrics(app: NestFastifyApplication): void {
  const metrics = app.get(Metrics);
  if (!metrics.enabled) return;
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      if (route === METRICS_PATH) return;
      metrics.observeHttpRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
    });
}
