import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/load-config.js';
import {
  bypassesProxy,
  HostResolver,
  PinnedHttpTransport,
  retryAfterSeconds,
} from '../src/callback/transport/pinned-http.transport.js';
import { startForwardProxy, type ForwardProxy } from './helpers/forward-proxy.js';

// The callback transport against real loopback servers, with a resolver the test controls: the
// address it checks is the address it connects to, a refused address gets no connection, a
// redirect is an answer, and a proxy is asked for the checked address.

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Receiver {
  port: number;
  received: Received[];
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  close(): Promise<void>;
}

async function receiver(
  answer: (req: Received) => { status: number; headers?: Record<string, string> } = () => ({
    status: 204,
  }),
): Promise<Receiver> {
  const state: Receiver = { port: 0, received: [], connections: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      state.received.push(received);
      const { status, headers } = answer(received);
      res.writeHead(status, headers).end();
    });
  });
  server.on('connection', () => (state.connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** Answers from a table, counting the lookups. */
class TableResolver extends HostResolver {
  readonly lookups: string[] = [];
  constructor(private readonly table: Record<string, string[]>) {
    super();
  }
  override async resolve(hostname: string): Promise<string[]> {
    this.lookups.push(hostname);
    const found = this.table[hostname];
    if (!found)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return found;
  }
}

function transport(env: Record<string, string>, resolver: HostResolver): PinnedHttpTransport {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
    ...env,
  });
  return new PinnedHttpTransport(config, resolver);
}

const post = (t: PinnedHttpTransport, url: string, body = '{"batch_id":"b"}') =>
  t.post(
    url,
    { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
    body,
    AbortSignal.timeout(5000),
  );

let server: Receiver;
beforeEach(async () => {
  server = await receiver();
});
afterEach(async () => {
  await server.close();
});

describe('PinnedHttpTransport', () => {
  it('connects to the address it resolved and checked, once per attempt, with the name as Host', async () => {
    // hooks.test exists in no DNS: reaching the receiver proves the connection used the checked
    // address and no second lookup happened.
    const resolver = new TableResolver({ 'hooks.test': ['127.0.0.1'] });
    const t = transport({ CALLBACK_ALLOWED_HOSTS: 'hooks.test' }, resolver);
    const outcome = await post(t, `http://hooks.test:${server.port}/done?x=1`, '{"a":1}');
    expect(outcome).toEqual({ kind: 'answered', status: 204 });
    expect(server.received).toEqual([
      expect.objectContaining({
        method: 'POST',
        url: '/done?x=1',
        body: '{"a":1}',
        headers: expect.objectContaining({
          host: `hooks.test:${server.port}`,
          'content-length': '7',
          'webhook-id': 'msg_1',
        }),
      }),
    ]);
    expect(resolver.lookups).toEqual(['hooks.test']);
    await post(t, `http://hooks.test:${server.port}/done`);
    expect(resolver.lookups).toEqual(['hooks.test', 'hooks.test']);
  });

  it.each([
    ['127.0.0.1', 'evil.test resolves to 127.0.0.1, a loopback address'],
    ['::ffff:127.0.0.1', 'evil.test resolves to ::ffff:127.0.0.1, an IPv4-mapped loopback address'],
    ['10.1.2.3', 'evil.test resolves to 10.1.2.3, a private address'],
    ['169.254.169.254', 'evil.test resolves to 169.254.169.254, a link-local address'],
  ])('refuses a name that resolves to %s without connecting', async (address, what) => {
    const resolver = new TableResolver({ 'evil.test': [address] });
    const t = transport({ CALLBACK_ALLOWED_HOSTS: 'hooks.test' }, resolver);
    const outcome = await post(t, `https://evil.test:${server.port}/x`);
    expect(outcome).toEqual({
      kind: 'refused',
      reason: `refused: ${what}, which only hosts in CALLBACK_ALLOWED_HOSTS may receive; no connection was made`,
    });
    expect(server.connections).toBe(0);
  });

  it('refuses a name whose answers mix a public and a private address', async () => {
    const resolver = new TableResolver({ 'mixed.test': ['93.184.216.34', '127.0.0.1'] });
    const outcome = await post(transport({}, resolver), `https://mixed.test:${server.port}/x`);
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: expect.stringContaining('127.0.0.1'),
    });
    expect(server.connections).toBe(0);
  });

  it('refuses an IP literal in a refused range at delivery too (CALLBACK_ALLOWED_HOSTS may have changed)', async () => {
    const outcome = await post(
      transport({}, new TableResolver({})),
      `https://127.0.0.1:${server.port}/x`,
    );
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: expect.stringContaining('refused: 127.0.0.1, a loopback address'),
    });
    expect(server.connections).toBe(0);
  });

  it('reports a name that does not resolve as unreachable', async () => {
    const outcome = await post(transport({}, new TableResolver({})), 'https://nowhere.test/x');
    expect(outcome).toEqual({
      kind: 'unreachable',
      reason: 'could not resolve nowhere.test: getaddrinfo ENOTFOUND nowhere.test',
    });
  });

  it('does not follow a redirect: the 302 is the answer, its target never hears of it', async () => {
    const target = await receiver();
    const redirecting = await receiver(() => ({
      status: 302,
      headers: { location: `http://127.0.0.1:${target.port}/elsewhere` },
    }));
    try {
      const t = transport({ CALLBACK_ALLOWED_HOSTS: '127.0.0.1' }, new TableResolver({}));
      expect(await post(t, `http://127.0.0.1:${redirecting.port}/x`)).toEqual({
        kind: 'answered',
        status: 302,
      });
      expect(target.connections).toBe(0);
    } finally {
      await target.close();
      await redirecting.close();
    }
  });

  it('passes on the receiver’s Retry-After', async () => {
    const busy = await receiver(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    try {
      const t = transport({ CALLBACK_ALLOWED_HOSTS: '127.0.0.1' }, new TableResolver({}));
      expect(await post(t, `http://127.0.0.1:${busy.port}/x`)).toEqual({
        kind: 'answered',
        status: 429,
        retryAfterSeconds: 7,
      });
    } finally {
      await busy.close();
    }
  });

  describe('behind a proxy', () => {
    let proxy: ForwardProxy;
    beforeEach(async () => {
      proxy = await startForwardProxy();
    });
    afterEach(async () => {
      await proxy.close();
    });

    it('asks the proxy to tunnel https to the checked address, not the name', async () => {
      const resolver = new TableResolver({ 'hooks.test': ['127.0.0.1'] });
      const t = transport(
        { CALLBACK_ALLOWED_HOSTS: 'hooks.test', HTTPS_PROXY: proxy.url },
        resolver,
      );
      // The receiver speaks plain http, so TLS fails after the tunnel: what counts is the CONNECT.
      const outcome = await post(t, `https://hooks.test:${server.port}/done`);
      expect(outcome.kind).toBe('unreachable');
      expect(proxy.seen).toEqual([`CONNECT 127.0.0.1:${server.port}`]);
      expect(server.connections).toBe(1);
      t.onApplicationShutdown();
    });

    it('hands plain http (allowed hosts only) to the proxy by name, as the proxy protocol wants', async () => {
      const t = transport(
        { CALLBACK_ALLOWED_HOSTS: 'hooks.test', HTTP_PROXY: proxy.url },
        new TableResolver({ 'hooks.test': ['127.0.0.1'] }),
      );
      await post(t, `http://hooks.test:${server.port}/done`);
      expect(proxy.seen).toEqual([`POST http://hooks.test:${server.port}/done`]);
      t.onApplicationShutdown();
    });

    it('refuses plain http to a host CALLBACK_ALLOWED_HOSTS no longer names', async () => {
      const t = transport(
        { HTTP_PROXY: proxy.url },
        new TableResolver({ 'hooks.test': ['127.0.0.1'] }),
      );
      expect(await post(t, `http://hooks.test:${server.port}/done`)).toMatchObject({
        kind: 'refused',
        reason: expect.stringContaining('plain http only for hosts in CALLBACK_ALLOWED_HOSTS'),
      });
      expect(proxy.seen).toEqual([]);
      t.onApplicationShutdown();
    });

    it('goes direct for a host NO_PROXY names', async () => {
      const resolver = new TableResolver({ 'hooks.test': ['127.0.0.1'] });
      const t = transport(
        { CALLBACK_ALLOWED_HOSTS: 'hooks.test', HTTP_PROXY: proxy.url, NO_PROXY: '.test' },
        resolver,
      );
      expect(await post(t, `http://hooks.test:${server.port}/done`)).toMatchObject({ status: 204 });
      expect(proxy.seen).toEqual([]);
      t.onApplicationShutdown();
    });
  });
});

describe('bypassesProxy', () => {
  it.each([
    ['hooks.test', 80, '*', true],
    ['hooks.test', 80, 'hooks.test', true],
    ['a.hooks.test', 80, 'hooks.test', true],
    ['a.hooks.test', 80, '.hooks.test', true],
    ['a.hooks.test', 80, '*.hooks.test', true],
    ['hooks.test', 8080, 'hooks.test:8080', true],
    ['hooks.test', 80, 'hooks.test:8080', false],
    ['nothooks.test', 80, 'hooks.test', false],
    ['127.0.0.1', 80, 'localhost, 127.0.0.1', true],
    ['hooks.test', 80, undefined, false],
  ])('%s:%i with NO_PROXY=%s → %s', (host, port, noProxy, expected) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(expected);
  });
});

describe('retryAfterSeconds', () => {
  it('reads seconds and HTTP dates, and ignores what is neither', () => {
    expect(retryAfterSeconds('120')).toBe(120);
    expect(retryAfterSeconds(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThanOrEqual(
      29,
    );
    expect(retryAfterSeconds('soon')).toBeUndefined();
    expect(retryAfterSeconds(undefined)).toBeUndefined();
  });
});
