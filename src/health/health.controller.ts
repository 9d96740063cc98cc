import { type BeforeApplicationShutdown, Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Clock } from '../common/clock.js';
import { STORAGE_UNAVAILABLE_RETRY_AFTER_SECONDS } from '../common/problem-details.js';
import { StorageBase } from '../storage/storage.base.js';

/** How long a storage check may take before it counts as down. */
const CHECK_TIMEOUT_MS = 2000;

const READY_DESCRIPTION =
  '200 while the service can do its work: the database answers within 2 s with its whole schema ' +
  '(every table, every migration), and the service is not shutting down. `info.scheduler.backlog` is how ' +
  'many schedules are due and not yet claimed, `oldest_due_seconds` how late the oldest of them is. ' +
  '503 otherwise, with the same body saying which check failed (`error`), and `Retry-After`.';

/**
 * For load balancers and orchestrators; no identity needed, no user data shown. Answers in
 * terminus's shape (`status`, `info`, `error`, `details`), also when it is 503.
 */
@ApiTags('health')
@Controller('health')
export class HealthController implements BeforeApplicationShutdown {
  private draining = false;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly storage: StorageBase,
    private readonly clock: Clock,
  ) {}

  /** From here on the service is shutting down: not ready for new work. */
  beforeApplicationShutdown(): void {
    this.draining = true;
  }

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'Health (readiness)', description: `The same as \`/health/ready\`. ${READY_DESCRIPTION}` })
  check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.ready(reply);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness', description: READY_DESCRIPTION })
  ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.answer(reply, [
      () => (this.draining ? this.indicators.check('lifecycle').down({ draining: true }) : this.indicators.check('lifecycle').up()),
      () => this.indicators.check('storage').attempt(() => this.storage.ping()).withTimeout(CHECK_TIMEOUT_MS),
      () =>
        this.indicators
          .check('scheduler')
          .attempt(async () => {
            const now = this.clock.now();
            const { count, oldestNextRunAt } = await this.storage.dueBacklog(now);
            const late = oldestNextRunAt ? Math.max(0, Math.round((now.getTime() - oldestNextRunAt.getTime()) / 1000)) : 0;
            return { backlog: count, oldest_due_seconds: late };
          })
          .withTimeout(CHECK_TIMEOUT_MS),
    ]);
  }

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness', description: '200 while the process serves requests; it checks nothing else (restarting would not bring the database back).' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
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
