import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ShutdownDrain } from './shutdown-drain.service.js';

/**
 * On SIGTERM (and SIGINT and the other signals Nest knows): readiness 503 and the drain of the
 * requests in flight, bounded by `timeoutMs` (see ShutdownDrain); then the ticker and the
 * dispatcher stop; then the HTTP server and the storage close; then the process exits 0.
 */
export function registerGracefulShutdown(app: NestFastifyApplication, timeoutMs: number): void {
  app.get(ShutdownDrain).attach(app.getHttpAdapter().getInstance(), timeoutMs);
  // Without useProcessExit Nest re-raises the signal once done, and the process ends by the
  // signal rather than with code 0; process.exit also lets an asynchronous logger flush.
  app.enableShutdownHooks([], { useProcessExit: true });
}
