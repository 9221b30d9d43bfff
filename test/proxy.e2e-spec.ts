import { randomBytes } from 'node:crypto';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { runToSuccess } from './helpers/api.js';
import { startForwardProxy, type ForwardProxy } from './helpers/forward-proxy.js';
import { serviceApi, startService, type ServiceProcess } from './helpers/service-process.js';

// HTTP_PROXY end to end: `node dist/main.js` (the proxy is process-wide, so a process of its
// own), a loopback forward proxy that wants credentials, the simulator behind it.

const PROXY_PASSWORD = `proxy-pass-${randomBytes(6).toString('hex')}`;

let sim: SimulatorHandle;
let proxy: ForwardProxy;
let service: ServiceProcess | undefined;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  proxy = await startForwardProxy(`cxo:${PROXY_PASSWORD}`);
});
afterAll(async () => {
  await service?.kill();
  await proxy.close();
  await sim.close();
});

describe('outbound proxy (HTTP_PROXY)', () => {
  it('sends the token request and every CXone call through the proxy, and never logs its password', async () => {
    service = await startService({
      CXONE_API_URL: sim.url,
      HTTP_PROXY: proxy.url,
      LOG_LEVEL: 'debug',
    });
    await runToSuccess(serviceApi(service.url), 'proxied', 5);

    expect(proxy.refused).toBe(0);
    // fetch (the token request) tunnels with CONNECT even to an http target; the CXone client's
    // agent sends its calls in absolute form.
    const host = sim.url.slice('http://'.length);
    expect(proxy.seen.filter((line) => line === `CONNECT ${host}`)).toHaveLength(1);
    expect(sim.stats().token_requests).toBe(1);
    const execute = `POST ${sim.url}/api/v2/data-actions/proxied/execute`;
    expect(proxy.seen.filter((line) => line === execute)).toHaveLength(5);
    expect(sim.stats().actions.proxied.calls).toBe(5);
    expect(service.output()).not.toContain(PROXY_PASSWORD);
  });

  it('refuses to start on a malformed proxy URL, naming the variable and not echoing it', async () => {
    const started = startService({
      CXONE_API_URL: sim.url,
      HTTPS_PROXY: `not a url ${PROXY_PASSWORD}`,
    });
    await expect(started).rejects.toThrow('Invalid configuration: HTTPS_PROXY must be a URL');
    await expect(started).rejects.not.toThrow(PROXY_PASSWORD);
  });
});
