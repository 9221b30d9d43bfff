import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getCACertificates, setDefaultCACertificates, type TLSSocket } from 'node:tls';
import axios, { AxiosError, type AxiosInstance } from 'axios';
import { startForwardProxy, type ForwardProxy } from '../../../test/helpers/forward-proxy.js';
import { nodeHttpAdapter, RESPONSE_TOO_LARGE, type ClosableAdapter } from './node-http.adapter.js';

const failureOf = async (promise: Promise<unknown>): Promise<AxiosError> => {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AxiosError);
    return error as AxiosError;
  }
  throw new Error('expected the request to fail');
};

describe('nodeHttpAdapter (over real loopback HTTP)', () => {
  let server: Server;
  let base: string;
  let adapter: ClosableAdapter;
  let client: AxiosInstance;
  let connections = 0;
  const received: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(req.headers['x-request-id'] as string);
      switch (req.url) {
        case '/json':
          res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '3' });
          res.end(JSON.stringify({ echo: req.headers['x-request-id'] }));
          return;
        case '/big':
          res.writeHead(200, { 'content-length': '5000' });
          res.end('x'.repeat(5000));
          return;
        case '/chunked':
          res.writeHead(200);
          for (let i = 0; i < 10; i++) res.write('y'.repeat(600));
          res.end();
          return;
        case '/big-error':
          res.writeHead(502);
          for (let i = 0; i < 10; i++) res.write('z'.repeat(600));
          res.end();
          return;
        case '/status/503':
          res.writeHead(503, { 'retry-after': '7' });
          res.end('{"message":"busy"}');
          return;
        case '/reset':
          req.socket.destroy();
          return;
        case '/hang':
          return;
      }
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    adapter = nodeHttpAdapter({ connections: 4, maxResponseBytes: 4096 });
    client = axios.create({
      adapter,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  });
  afterAll(async () => {
    await adapter.close();
    server.closeAllConnections();
    server.close();
  });

  it('sends headers and body and returns status, headers and text', async () => {
    const response = await client.post(`${base}/json`, '{}', {
      headers: { 'X-Request-Id': 'r-1' },
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.data as string)).toEqual({ echo: 'r-1' });
    expect(response.headers['retry-after']).toBe('3');
  });

  it('keeps the connection for the next call (keep-alive)', async () => {
    await client.post(`${base}/json`, '{}');
    const before = connections;
    for (let i = 0; i < 5; i++) {
      expect((await client.post(`${base}/json`, '{}')).status).toBe(200);
    }
    expect(connections).toBe(before);
  });

  it('rejects a non-2xx answer the way axios does, with the response attached', async () => {
    const error = await failureOf(client.get(`${base}/status/503`));
    expect(error.code).toBe(AxiosError.ERR_BAD_RESPONSE);
    expect(error.response?.status).toBe(503);
    expect(error.response?.headers['retry-after']).toBe('7');
  });

  it('refuses answers over the size limit, declared or streamed, as RESPONSE_TOO_LARGE with the status', async () => {
    for (const path of ['/big', '/chunked']) {
      const error = await failureOf(client.get(`${base}${path}`));
      expect(error.code).toBe(RESPONSE_TOO_LARGE);
      expect(error.message).toContain('maxContentLength size of 4096 exceeded');
      expect(error).toMatchObject({ status: 200, limit: 4096 });
      expect(error.response).toBeUndefined();
    }
    // Not a 2xx: the status decides (the body over the limit is not read).
    const failed = await failureOf(client.get(`${base}/big-error`));
    expect(failed.response).toMatchObject({ status: 502, data: '' });
  });

  it('reports a hung upstream as ETIMEDOUT at the timeout', async () => {
    const started = Date.now();
    const error = await failureOf(client.get(`${base}/hang`, { timeout: 150 }));
    expect(error.code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('reports a dropped connection as ECONNRESET and a refused one as ECONNREFUSED', async () => {
    expect((await failureOf(client.get(`${base}/reset`))).code).toBe('ECONNRESET');
    expect((await failureOf(client.get('http://127.0.0.1:9/nothing'))).code).toBe('ECONNREFUSED');
  });

  it('rejects a header node:http refuses to write as a call error', async () => {
    const error = await failureOf(client.get(`${base}/json`, { headers: { 'X-Bad': 'ā' } }));
    expect(error.code).toBe('ERR_INVALID_CHAR');
  });

  describe('through HTTP_PROXY (Node built-in proxy support)', () => {
    let proxy: ForwardProxy;
    const proxied: ClosableAdapter[] = [];
    const through = (proxyEnv: Record<string, string>): AxiosInstance => {
      const own = nodeHttpAdapter({ connections: 2, maxResponseBytes: 4096, proxyEnv });
      proxied.push(own);
      return axios.create({ adapter: own, responseType: 'text', transformResponse: [] });
    };
    beforeAll(async () => {
      proxy = await startForwardProxy('proxy-user:proxy-pass-123');
    });
    afterAll(async () => {
      await Promise.all(proxied.map((own) => own.close()));
      await proxy.close();
    });

    it('sends every call through the proxy, with the credentials of its URL', async () => {
      const viaProxy = through({ HTTP_PROXY: proxy.url });
      for (let i = 0; i < 2; i++) {
        const response = await viaProxy.post(`${base}/json`, '{}', {
          headers: { 'X-Request-Id': `p-${i}` },
        });
        expect(JSON.parse(response.data as string)).toEqual({ echo: `p-${i}` });
      }
      expect(proxy.seen).toEqual([`POST ${base}/json`, `POST ${base}/json`]);
      expect(proxy.refused).toBe(0);
    });

    it('answers a proxy refusing the credentials as a call error, and skips NO_PROXY hosts', async () => {
      const wrong = proxy.url.replace('proxy-pass-123', 'wrong');
      const error = await failureOf(through({ HTTP_PROXY: wrong }).post(`${base}/json`, '{}'));
      expect(error.response?.status).toBe(407);
      expect(proxy.refused).toBe(1);

      const seen = proxy.seen.length;
      const direct = through({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
      expect((await direct.post(`${base}/json`, '{}')).status).toBe(200);
      expect(proxy.seen).toHaveLength(seen);
    });
  });

  it('reports the caller aborting as ERR_CANCELED', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await failureOf(
      client.get(`${base}/hang`, { signal: controller.signal, timeout: 5000 }),
    );
    expect(error.code).toBe('ERR_CANCELED');
  });

  it('sends through `dispatch`; a call cancelled or timed out before it is sent never is, one refused fails alone', async () => {
    const held: (() => void)[] = [];
    const holding = nodeHttpAdapter({
      connections: 4,
      maxResponseBytes: 4096,
      dispatch: (send) => held.push(send),
    });
    const heldClient = axios.create({ adapter: holding, responseType: 'text' });
    try {
      const controller = new AbortController();
      const cancelled = failureOf(
        heldClient.post(`${base}/json`, '{}', {
          headers: { 'X-Request-Id': 'held-cancelled' },
          signal: controller.signal,
        }),
      );
      const timedOut = failureOf(
        heldClient.post(`${base}/json`, '{}', {
          headers: { 'X-Request-Id': 'held-timeout' },
          timeout: 20,
        }),
      );
      const refused = failureOf(
        heldClient.post(`${base}/json`, '{}', {
          headers: { 'X-Request-Id': 'held-bad', 'X-Bad': 'ā' },
        }),
      );
      const unwritable = failureOf(
        heldClient.post(`${base}/json`, new ArrayBuffer(4), {
          headers: { 'X-Request-Id': 'held-unwritable' },
          transformRequest: [],
        }),
      );
      const sent = heldClient.post(`${base}/json`, '{}', {
        headers: { 'X-Request-Id': 'held-sent' },
      });
      controller.abort();
      expect((await cancelled).code).toBe('ERR_CANCELED');
      expect((await timedOut).code).toBe('ETIMEDOUT');
      expect(held).toHaveLength(5);

      // A send never throws: one node:http refuses is that call's error, the next is still sent.
      for (const send of held) send();
      expect((await refused).code).toBe('ERR_INVALID_CHAR');
      expect((await unwritable).code).toBe('ERR_INVALID_ARG_TYPE');
      expect(JSON.parse((await sent).data as string)).toEqual({ echo: 'held-sent' });
      expect(received.filter((id) => id?.startsWith('held-'))).toEqual(['held-sent']);
    } finally {
      await holding.close();
    }
  });
});

describe('nodeHttpAdapter (over real loopback HTTPS)', () => {
  // A self-signed certificate for 127.0.0.1 made for this test only (valid until 2126); its key
  // protects nothing but this loopback server.
  const fixture = (name: string): string =>
    readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url), 'utf8');
  const cert = fixture('loopback-tls.crt');
  const key = fixture('loopback-tls.key');
  const defaultCAs = getCACertificates('default');
  let server: HttpsServer;
  let base: string;
  let adapter: ClosableAdapter;
  let client: AxiosInstance;
  let handshakes = 0;

  beforeAll(async () => {
    server = createHttpsServer({ cert, key }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const encrypted = (req.socket as TLSSocket).encrypted === true;
      res.end(JSON.stringify({ encrypted, echo: req.headers['x-request-id'] }));
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    adapter = nodeHttpAdapter({ connections: 2, maxResponseBytes: 4096 });
    client = axios.create({ adapter, responseType: 'text', transformResponse: [] });
  });
  afterAll(async () => {
    setDefaultCACertificates(defaultCAs);
    await adapter.close();
    server.closeAllConnections();
    server.close();
  });

  it('refuses a certificate the process does not trust, as a call error', async () => {
    const error = await failureOf(client.post(`${base}/json`, '{}'));
    expect(error.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('calls over TLS with keep-alive once the certificate is trusted (NODE_EXTRA_CA_CERTS in production)', async () => {
    setDefaultCACertificates([...defaultCAs, cert]);
    for (let i = 0; i < 3; i++) {
      const response = await client.post(`${base}/json`, '{}', {
        headers: { 'X-Request-Id': `tls-${i}` },
      });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.data as string)).toEqual({ encrypted: true, echo: `tls-${i}` });
    }
    expect(handshakes).toBe(1);
  });

  it('tunnels through HTTPS_PROXY with CONNECT, TLS end to end', async () => {
    setDefaultCACertificates([...defaultCAs, cert]);
    const proxy = await startForwardProxy();
    const tunnelled = nodeHttpAdapter({
      connections: 2,
      maxResponseBytes: 4096,
      proxyEnv: { HTTPS_PROXY: proxy.url },
    });
    try {
      const viaProxy = axios.create({
        adapter: tunnelled,
        responseType: 'text',
        transformResponse: [],
      });
      const response = await viaProxy.post(`${base}/json`, '{}', {
        headers: { 'X-Request-Id': 'tunnelled' },
      });
      expect(JSON.parse(response.data as string)).toEqual({ encrypted: true, echo: 'tunnelled' });
      expect(proxy.seen).toEqual([`CONNECT ${base.slice('https://'.length)}`]);
    } finally {
      await tunnelled.close();
      await proxy.close();
    }
  });
});
