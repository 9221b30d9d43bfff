import { Controller, Get } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { DomainError } from '../lib/domain-error.js';
import { Public } from '../http/public.decorator.js';
import { within } from '../lib/settles-within.js';
import { ReadinessService } from './readiness.service.js';

const CHECK_TIMEOUT_MS = 2000;

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessService,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP.' })
  @ApiOkResponse({ schema: { example: { status: 'ok', info: {}, error: {}, details: {} } } })
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the store is reachable and the process is not draining.' })
  @ApiOkResponse({
    schema: {
      example: { status: 'ok', info: { store: { status: 'up' } }, error: {}, details: {} },
    },
  })
  @ApiServiceUnavailableResponse({ description: 'Not ready (problem details say why).' })
  async ready(): Promise<HealthCheckResult> {
    if (this.readiness.draining)
      throw new DomainError('NOT_READY', 'Not ready: the process is draining for shutdown.');
    const checks = this.readiness.entries().map(([name, check]) => async () => {
      const indicator = this.indicators.check(name);
      try {
        const details = await within(
          check(),
          CHECK_TIMEOUT_MS,
          `no answer within ${CHECK_TIMEOUT_MS} ms`,
        );
        return indicator.up(details ?? undefined);
      } catch (error) {
        return indicator.down({ reason: error instanceof Error ? error.message : String(error) });
      }
    });
    try {
      return await this.health.check(checks);
    } catch (error) {
      const result = (error as { response?: HealthCheckResult }).response;
      const down = Object.entries(result?.error ?? {})
        .map(([name, detail]) => `${name}: ${(detail as { reason?: string }).reason ?? 'down'}`)
        .join('; ');
      throw new DomainError('NOT_READY', `Not ready: ${down || 'a dependency is down'}.`);
    }
  }
}
