import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OTLP/HTTP receiver that accepts and drops everything, so a service with tracing on
 * pays the real cost of exporting spans without any collector or outside traffic.
 */
export class OtlpSink {
  requests = 0;
  bytes = 0;
  url = '';
  private readonly server: Server = createServer((req, res) => this.receive(req, res));

  static async start(): Promise<OtlpSink> {
    const sink = new OtlpSink();
    await new Promise<void>((resolve, reject) => {
      sink.server.once('error', reject);
      sink.server.listen(0, '127.0.0.1', () => resolve());
    });
    sink.url = `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}`;
    return sink;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    req.on('data', (chunk: Buffer) => (this.bytes += chunk.length));
    req.on('end', () => {
      this.requests++;
      const json = (req.headers['content-type'] ?? '').includes('json');
      // An empty protobuf message, or {} in JSON, is a full-success Export*ServiceResponse.
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  }
}
