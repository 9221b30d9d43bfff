import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** One request a receiver got. */
export interface ReceivedCallback {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What to answer the `n`th request (from 0): a status, or 'hold' to never answer it. */
export type Answer = (n: number, request: ReceivedCallback) => number | 'hold';

export interface CallbackReceiver {
  port: number;
  url(path?: string): string;
  received: ReceivedCallback[];
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedCallback[]>;
  close(): Promise<void>;
}

/** A loopback HTTP receiver of callbacks that records every request and connection. */
export async function startReceiver(answer: Answer = () => 204): Promise<CallbackReceiver> {
  const receiver: CallbackReceiver = {
    port: 0,
    url: (path = '/hook') => `http://127.0.0.1:${receiver.port}${path}`,
    received: [],
    connections: 0,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (receiver.received.length < count) {
        if (Date.now() > deadline)
          throw new Error(`${count} callbacks not received within ${timeoutMs} ms`);
        await sleep(20);
      }
      return receiver.received;
    },
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      const n = receiver.received.length;
      receiver.received.push(request);
      const status = answer(n, request);
      if (status !== 'hold') res.writeHead(status).end();
    });
  });
  server.on('connection', () => (receiver.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
