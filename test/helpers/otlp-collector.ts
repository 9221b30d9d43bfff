import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** One export the collector received: where, with which headers, and its body. */
export interface ReceivedExport {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface OtlpCollector {
  /** Base URL to give the service as OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  received: ReceivedExport[];
  close(): Promise<void>;
}

const GRPC_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/**
 * A loopback OTLP trace collector that accepts every export and keeps it. `http` answers OTLP/HTTP
 * (protobuf or JSON, `POST /v1/traces`); `grpc` answers the TraceService `Export` call over
 * plain-text HTTP/2, with an empty (all-accepted) response message.
 */
export async function startOtlpCollector(transport: 'http' | 'grpc'): Promise<OtlpCollector> {
  const received: ReceivedExport[] = [];
  let server: Server | Http2Server;
  if (transport === 'http') {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        const json = req.headers['content-type']?.includes('json') === true;
        res.writeHead(200, {
          'content-type': json ? 'application/json' : 'application/x-protobuf',
        });
        res.end(json ? '{}' : undefined);
      });
    });
  } else {
    server = createHttp2Server((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        // gRPC framing: 1 byte compressed flag, 4 bytes length, then the protobuf message.
        received.push({ path: req.url, headers: req.headers, body: body.subarray(5) });
        if (req.url !== GRPC_EXPORT_PATH) {
          res.writeHead(200, { 'content-type': 'application/grpc' });
          res.addTrailers({ 'grpc-status': '12', 'grpc-message': 'unimplemented' });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.addTrailers({ 'grpc-status': '0' });
        res.end(Buffer.alloc(5));
      });
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
