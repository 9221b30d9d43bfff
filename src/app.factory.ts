import { type INestApplication, type NestApplicationOptions } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule, type TelemetryOverrides } from './app.module.js';
import { serveConsole } from './console/console.static.js';
import { Authenticator } from './callers/authenticate.middleware.js';
import { answerMalformedRequests } from './http/malformed-request.js';
import { checkRequestShape } from './http/request-shape.js';
import { DomainError } from './lib/domain-error.js';
import type { AppConfig } from './config/app-config.js';
import { HttpTelemetry } from './telemetry/tracing/http-telemetry.js';
import { intakeGate } from './http/intake-gate.js';

const JSON_TYPES = ['application/json', 'application/*+json'];
/** Batch bodies larger than this are read one at a time (see intakeGate); smaller ones at once. */
const LARGE_BATCH_BODY_BYTES = 1024 * 1024;

/** Refuses request bodies that are not JSON (415) instead of silently ignoring them. */
function requireJsonBodies(req: Request, _res: Response, next: NextFunction): void {
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is(JSON_TYPES)) {
    next(
      new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.', {
        errors: [{ field: 'Content-Type', message: 'must be application/json' }],
      }),
    );
    return;
  }
  next();
}

/** Batch and circuit answers are a caller's live state: no cache (browser or proxy) keeps them. */
function noStore(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Cache-Control', 'no-store');
  next();
}

export function buildOpenApiDocument(app: INestApplication) {
  const config = new DocumentBuilder()
    .setTitle('CXone Data Action Orchestrator')
    .setDescription(
      'Runs NICE CXone Data Actions in bulk: submit a batch, poll its status. ' +
        'Errors are RFC 9457 problem details (application/problem+json).',
    )
    .setVersion('1')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      description: 'A caller key from API_KEYS or API_KEYS_FILE',
    })
    .addSecurityRequirements('bearer')
    .build();
  return SwaggerModule.createDocument(app, config);
}

export type AppOptions = Pick<NestApplicationOptions, 'logger' | 'bufferLogs'> & TelemetryOverrides;

/** Builds the application exactly as production runs it; tests use the same function. */
export async function createApp(
  config: AppConfig,
  options: AppOptions = { bufferLogs: true },
): Promise<NestExpressApplication> {
  const { spanProcessors, logDestination, ...nestOptions } = options;
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register(config, { spanProcessors, logDestination }),
    { ...nestOptions, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.set('etag', false);
  // First: every request, even one refused by body parsing, gets its trace context and timing.
  app.use(app.get(HttpTelemetry).middleware);
  // helmet's defaults on every answer; its Content-Security-Policy lets pages run only their own
  // scripts, which the console and Swagger UI are built for.
  app.use(helmet());
  app.use(['/batch', '/circuits'], noStore);
  // Then its caller, before anything reads the body: no key, no upload read.
  app.use(app.get(Authenticator).middleware);
  app.use(requireJsonBodies);
  app.use('/batch/execute', intakeGate(1, LARGE_BATCH_BODY_BYTES));
  // strict: false: a body that is valid JSON but not an object (`null`, `[]`, `1`) reaches the
  // route, which names the problem ("body: must be a JSON object") instead of the parser calling
  // it invalid JSON. `limit` bounds the body as inflated, whatever its Content-Encoding.
  app.useBodyParser('json', { limit: config.batch.maxBodyBytes, type: JSON_TYPES, strict: false });
  app.use(checkRequestShape);
  if (config.console.enabled) serveConsole(app);
  if (config.docsEnabled) {
    SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
      jsonDocumentUrl: 'docs-json',
    });
  }
  answerMalformedRequests(app.getHttpServer());
  app.enableShutdownHooks();
  return app;
}
