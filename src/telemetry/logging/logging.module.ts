import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream, LogFn } from 'pino';
import type { Options } from 'pino-http';
import type { AppConfig } from '../../config/app-config.js';
import { requestTelemetryOf } from '../../http/request-telemetry.js';
import {
  CENSOR,
  REDACTED_PATHS,
  secretScrubber,
  secretsOf,
  serializeError,
} from './log-redaction.js';

export { REDACTED_PATHS } from './log-redaction.js';

export interface LoggingOptions {
  /** Test-only: where log lines go instead of stdout. */
  destination?: DestinationStream;
}

/** Nest's start-up chatter (one line per module and route), left out of the demo's pretty output. */
const START_UP_CONTEXTS: ReadonlySet<unknown> = new Set([
  'InstanceLoader',
  'RouterExplorer',
  'RoutesResolver',
]);

/**
 * The request's log line carries its trace id and caller (bound when the request arrives) and,
 * once the handler has named it, the batch it created or read (added when the response is logged).
 */
function requestProps(request: IncomingMessage, response: ServerResponse): object {
  const telemetry = requestTelemetryOf(request);
  if (telemetry === undefined) return {};
  if (!response.headersSent) {
    const { caller } = telemetry;
    return caller === undefined
      ? { trace_id: telemetry.trace.traceId }
      : { trace_id: telemetry.trace.traceId, caller };
  }
  return telemetry.batchId === undefined ? {} : { batch_id: telemetry.batchId };
}

function pinoOptions(config: AppConfig): Options {
  const scrub = secretScrubber(secretsOf(config));
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    hooks: {
      streamWrite: scrub,
      ...(config.logPretty
        ? {
            logMethod(this: unknown, args: Parameters<LogFn>, method: LogFn): void {
              const first = args[0] as { context?: unknown } | undefined;
              if (typeof first === 'object' && START_UP_CONTEXTS.has(first?.context)) return;
              method.apply(this, args);
            },
          }
        : {}),
    },
    genReqId: (req) => (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
    autoLogging: {
      ignore: (req) => req.url?.startsWith('/health') === true || req.url === '/metrics',
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
    customProps: requestProps,
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: serializeError,
    },
    ...(config.logPretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' },
          },
        }
      : {}),
  };
}

/**
 * Structured JSON logs with pino (pretty in the demo): one line per request (with `trace_id`,
 * and `batch_id` when there is one), one per batch transition (see `OtelBatchTelemetry`).
 * Secrets never reach a line: `REDACTED_PATHS`, an error serializer that drops HTTP client
 * request details, and a scrub of every written line (`secretScrubber`).
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig, options: LoggingOptions = {}): DynamicModule {
    const pinoHttp = pinoOptions(config);
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp:
            options.destination === undefined
              ? pinoHttp
              : [{ ...pinoHttp, transport: undefined }, options.destination],
        }),
      ],
    };
  }
}
