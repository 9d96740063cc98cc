import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Registry } from 'prom-client';
import { Metrics } from './metrics.js';

export const METRICS_PATH = '/metrics';

/** Prometheus's scrape target: no identity needed (it shows no user data), present only with METRICS_ENABLED. */
@ApiTags('metrics')
@Controller(METRICS_PATH.slice(1))
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  @Get()
  @Header('content-type', Registry.PROMETHEUS_CONTENT_TYPE)
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'The Prometheus text format: process metrics, request durations by route, fires by trigger and status, ' +
      'fire lag, the due backlog, claim batch durations, dispatch attempts and their durations. ' +
      'Off (404) with METRICS_ENABLED=false.',
  })
  @ApiProduces(Registry.PROMETHEUS_CONTENT_TYPE)
  @ApiOkResponse({
    description: 'The metrics of this replica.',
    schema: {
      type: 'string',
      example:
        '# HELP schedule_fires_total Runs written for fire times, by trigger and status.\n' +
        '# TYPE schedule_fires_total counter\n' +
        'schedule_fires_total{trigger="cron",status="succeeded"} 42\n',
    },
  })
  scrape(): Promise<string> {
    return this.metrics.exposition();
  }
}
