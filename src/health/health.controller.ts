import { applyDecorators, Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, type ApiResponseSchemaHost, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Clock } from '../common/clock.js';
import { STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../common/problem-details.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';
import { FiringStorage } from '../storage/ports/firing.storage.js';
import { StorageLifecycle } from '../storage/ports/storage-lifecycle.js';
import { ShutdownDrain } from './shutdown-drain.service.js';

/** How long a storage check may take before it counts as down. */
const CHECK_TIMEOUT_MS = 2000;

const READY_DESCRIPTION =
  '200 while the service can do its work: the database answers within 2 s with its whole schema ' +
  '(every table, every migration) and takes writes (not a read-only server, not a file another process holds), ' +
  'and the service is not shutting down. `info.scheduler.backlog` is how ' +
  'many schedules are due and not yet claimed, `oldest_due_seconds` how late the oldest of them is; ' +
  '`info.outbox` the same of the webhooks deliverable and not yet taken by a dispatcher. ' +
  '503 otherwise, with the same body saying which check failed (`error`), and `Retry-After`.';

/** terminus's answer: `status`, then each check by name under `info` (up), `error` (down) and `details` (all). */
const HEALTH_BODY: ApiResponseSchemaHost['schema'] = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: { type: 'object', additionalProperties: { type: 'object' }, nullable: true },
    error: { type: 'object', additionalProperties: { type: 'object' }, nullable: true },
    details: { type: 'object', additionalProperties: { type: 'object' } },
  },
};

/**
 * terminus's @HealthCheck without its Swagger part, documented here instead: terminus documents
 * the route only where it can require() @nestjs/swagger, an ES module that Node 24 can require
 * and Node 20 cannot, so the generated document differed between the two.
 */
const HealthRoute = () =>
  applyDecorators(
    HealthCheck({ noCache: true, swaggerDocumentation: false }),
    ApiOkResponse({ description: 'Healthy.', schema: HEALTH_BODY }),
    ApiServiceUnavailableResponse({ description: 'Not healthy: `error` names the failing check.', schema: HEALTH_BODY }),
  );

/**
 * For load balancers and orchestrators; no identity needed, no user data shown. Answers in
 * terminus's shape (`status`, `info`, `error`, `details`), also when it is 503.
 */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly storage: StorageLifecycle,
    private readonly firing: FiringStorage,
    private readonly delivery: DeliveryStorage,
    private readonly clock: Clock,
    private readonly shutdown: ShutdownDrain,
  ) {}

  @Get()
  @HealthRoute()
  @ApiOperation({ summary: 'Health (readiness)', description: `The same as \`/health/ready\`. ${READY_DESCRIPTION}` })
  check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.ready(reply);
  }

  @Get('ready')
  @HealthRoute()
  @ApiOperation({ summary: 'Readiness', description: READY_DESCRIPTION })
  ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.answer(reply, [
      () => (this.shutdown.isDraining ? this.indicators.check('lifecycle').down({ draining: true }) : this.indicators.check('lifecycle').up()),
      () => this.indicators.check('storage').attempt(() => this.storage.ping()).withTimeout(CHECK_TIMEOUT_MS),
      () => this.backlogCheck('scheduler', async (now) => {
        const { count, oldestNextRunAt } = await this.firing.dueBacklog(now);
        return { count, oldest: oldestNextRunAt };
      }),
      () => this.backlogCheck('outbox', async (now) => {
        const { count, oldestAvailableAt } = await this.delivery.outboxBacklog(now);
        return { count, oldest: oldestAvailableAt };
      }),
    ]);
  }

  @Get('live')
  @HealthRoute()
  @ApiOperation({ summary: 'Liveness', description: '200 while the process serves requests; it checks nothing else (restarting would not bring the database back).' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /** A check that reports a backlog: how much is due and not taken, and how late the oldest of it is (up while it can be read). */
  private backlogCheck(name: string, read: (now: Date) => Promise<{ count: number; oldest: Date | null }>) {
    return this.indicators
      .check(name)
      .attempt(async () => {
        const now = this.clock.now();
        const { count, oldest } = await read(now);
        const late = oldest ? Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 1000)) : 0;
        return { backlog: count, oldest_due_seconds: late };
      })
      .withTimeout(CHECK_TIMEOUT_MS);
  }

  /** Runs the checks; a failing one answers 503 with terminus's body (not a problem body: probes read `status`). */
  private async answer(reply: FastifyReply, checks: Parameters<HealthCheckService['check']>[0]): Promise<HealthCheckResult> {
    try {
      return await this.health.check(checks);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE).header('retry-after', String(STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS));
      return error.getResponse() as HealthCheckResult;
    }
  }
}
