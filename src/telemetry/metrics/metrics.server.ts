import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { AppConfig } from '../../config/app-config.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.controller.js';
import { MetricsRegistry } from './metrics.registry.js';

/**
 * GET /metrics on METRICS_PORT, a listener of its own: the scrape port can stay inside the
 * cluster (a NetworkPolicy, a Service of its own) while the API port is exposed, and the API port
 * then has no /metrics. A plain node:http server: one route, no Nest pipeline to go through.
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | undefined;

  constructor(
    private readonly registry: MetricsRegistry,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.metrics.port;
    if (port === undefined) return;
    const server = createServer((request, response) => void this.handle(request, response));
    server.listen(port, this.config.host);
    await once(server, 'listening');
    this.server = server;
    this.logger.log(`Metrics on port ${port} (GET /metrics)`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      return;
    }
    try {
      const text = await this.registry.scrape();
      response
        .writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' })
        .end(request.method === 'HEAD' ? undefined : text);
    } catch (error) {
      this.logger.error({ err: error }, 'Metrics scrape failed');
      response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Error\n');
    }
  }
}
