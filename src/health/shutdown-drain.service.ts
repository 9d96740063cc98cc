import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { PROBLEM_CONTENT_TYPE } from '../common/problem-details.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../config/app-config.js';

/** The `Retry-After` of a request refused while shutting down: another replica can take it now. */
export const SHUTTING_DOWN_RETRY_AFTER_SECONDS = 1;

/** Routes that keep answering while the service drains (probes must see readiness go down). */
const ALWAYS_SERVED = /^\/health(\/|$)/;

/**
 * The first step of a shutdown (readiness, drain, ticker and dispatcher, storage). Nest
 * calls every onModuleDestroy before any beforeApplicationShutdown, and closes the HTTP server
 * only after those: so draining here comes before SchedulerService and DispatcherService stop
 * (their beforeApplicationShutdown), and before the storage closes (TypeORM's onApplicationShutdown).
 *
 * From the signal on, readiness is 503, new requests get a 503 problem with `Retry-After` and
 * `Connection: close`, and the requests already in flight get up to the shutdown timeout to
 * finish; those still running then have their connections closed.
 */
@Injectable()
export class ShutdownDrain implements OnModuleDestroy {
  private readonly logger = new Logger('Shutdown');
  private readonly inFlight = new Set<IncomingMessage>();
  private timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS;
  private draining = false;
  /** Resolves the wait of onModuleDestroy once the last request in flight ends. */
  private onIdle: (() => void) | null = null;

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Counts the requests in flight and refuses new ones once draining. Its hook is added last (see
   * configureApp), so a refused request still gets the security headers, a log line and metrics.
   */
  attach(fastify: FastifyInstance, timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (ALWAYS_SERVED.test(request.routeOptions.url ?? '')) return;
      if (this.draining) return refuse(request, reply);
      this.track(request.raw, reply);
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.draining = true;
    if (this.inFlight.size === 0) return;
    if (this.timeoutMs > 0) {
      this.logger.log(`Shutting down: waiting up to ${this.timeoutMs} ms for ${this.inFlight.size} request(s) in flight`);
      if (await this.drained()) return;
    }
    this.logger.warn(`Shutting down: closing the connections of ${this.inFlight.size} request(s) still in flight after ${this.timeoutMs} ms`);
    for (const request of this.inFlight) request.socket.destroy();
  }

  /** Whether the requests in flight all ended within the timeout. */
  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.onIdle = null;
        resolve(false);
      }, this.timeoutMs);
      this.onIdle = () => {
        this.onIdle = null;
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private track(request: IncomingMessage, reply: FastifyReply): void {
    this.inFlight.add(request);
    // 'close' comes when the response is sent and when the client goes away before that.
    reply.raw.once('close', () => {
      this.inFlight.delete(request);
      if (this.inFlight.size === 0) this.onIdle?.();
    });
  }
}

function refuse(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(503)
    .header('content-type', PROBLEM_CONTENT_TYPE)
    .header('retry-after', String(SHUTTING_DOWN_RETRY_AFTER_SECONDS))
    .header('connection', 'close')
    .send({
      type: 'urn:schedule-service:problem:shutting-down',
      title: 'Shutting down',
      status: 503,
      detail: 'This instance is shutting down; retry, another instance will answer.',
      instance: request.url.split('?')[0].slice(0, 200),
    });
}
