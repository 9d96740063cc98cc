import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { StorageBase } from '../storage/storage.base.js';

/** For load balancers and orchestrators; no identity needed, no user data shown. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly storage: StorageBase,
  ) {}

  @Get()
  @HealthCheck()
  @ApiOperation({ summary: 'Health', description: '200 while the storage answers within 2 s, 503 when it does not.' })
  check(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.indicators.check('storage').attempt(() => this.storage.ping()).withTimeout(2000),
    ]);
  }
}
