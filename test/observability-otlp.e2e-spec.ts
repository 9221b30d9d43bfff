import { randomBytes } from 'node:crypto';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { runToSuccess } from './helpers/api.js';
import {
  startOtlpCollector,
  type OtlpCollector,
  type ReceivedExport,
} from './helpers/otlp-collector.js';
import {
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';

// OTLP export end to end: `node dist/main.js` (the exporters read OTEL_EXPORTER_OTLP_HEADERS from
// the process environment) sends the spans of a batch to a loopback collector, over each
// OTEL_EXPORTER_OTLP_PROTOCOL.

const COLLECTOR_KEY = `collector-key-${randomBytes(6).toString('hex')}`;

let sim: SimulatorHandle;
let collector: OtlpCollector | undefined;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
});
afterEach(async () => {
  await service?.kill();
  await collector?.close();
  service = undefined;
  collector = undefined;
});
afterAll(async () => {
  await sim.close();
});

/** Runs a 3-item batch through a service exporting to `collector`; returns the batch's trace id. */
async function runBatch(env: Record<string, string>): Promise<string> {
  service = await startService({
    CXONE_API_URL: sim.url,
    OTEL_EXPORTER_OTLP_HEADERS: `x-collector-key=${COLLECTOR_KEY}`,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const accepted = await runToSuccess(serviceApi(service.url), 'traced', 3);
  return accepted.trace_id as string;
}

/** Waits for an export holding `marker` (the trace id as the protocol encodes it); returns them all. */
async function exportsHolding(sink: OtlpCollector, marker: Buffer): Promise<ReceivedExport[]> {
  await waitFor(
    async () => sink.received.some((sent) => sent.body.includes(marker)),
    10_000,
    `an export holding ${marker.toString('hex')}`,
  );
  return sink.received;
}

describe('OTLP trace export (OTEL_EXPORTER_OTLP_PROTOCOL)', () => {
  it.each([
    ['http/protobuf', 'application/x-protobuf'],
    ['http/json', 'application/json'],
  ])(
    '%s: POSTs the batch spans to {endpoint}/v1/traces with the configured headers',
    async (protocol, type) => {
      const http = await startOtlpCollector('http');
      collector = http;
      const traceId = await runBatch({
        OTEL_EXPORTER_OTLP_ENDPOINT: http.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      });
      // Protobuf carries the trace id as 16 bytes, OTLP/JSON as hex.
      const marker = protocol === 'http/json' ? Buffer.from(traceId) : Buffer.from(traceId, 'hex');
      for (const sent of await exportsHolding(http, marker)) {
        expect(sent.path).toBe('/v1/traces');
        expect(sent.headers['content-type']).toContain(type);
        expect(sent.headers['x-collector-key']).toBe(COLLECTOR_KEY);
      }
      expect(service?.output()).not.toContain(COLLECTOR_KEY);
    },
  );

  it('grpc: calls TraceService/Export at the endpoint as given, the headers as metadata', async () => {
    const grpc = await startOtlpCollector('grpc');
    collector = grpc;
    const traceId = await runBatch({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: grpc.url,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
    });
    for (const sent of await exportsHolding(grpc, Buffer.from(traceId, 'hex'))) {
      expect(sent.path).toBe('/opentelemetry.proto.collector.trace.v1.TraceService/Export');
      expect(sent.headers['content-type']).toBe('application/grpc');
      expect(sent.headers['x-collector-key']).toBe(COLLECTOR_KEY);
    }
    expect(service?.output()).not.toContain(COLLECTOR_KEY);
  });
});
