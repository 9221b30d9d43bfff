import { createServer } from 'node:net';
import { startService, type ServiceProcess } from './helpers/service-process.js';

// HOST: `node dist/main.js` listens on that address only. No CXone call is made (nothing is
// submitted): the API URL is a closed port.

const CXONE = { CXONE_API_URL: 'http://127.0.0.1:9' };

/** True if this machine can listen on ::1 (IPv6 loopback), so that a refusal there means something. */
async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => probe.close(() => resolve(true)));
  });
}

let service: ServiceProcess | undefined;
afterEach(async () => {
  await service?.kill();
  service = undefined;
});

it('listens on HOST only (127.0.0.1: not on ::1), and on every interface without it', async () => {
  const ipv6 = await hasIpv6Loopback();
  service = await startService({ ...CXONE, HOST: '127.0.0.1' });
  const port = new URL(service.url).port;
  expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
  if (ipv6) {
    await expect(fetch(`http://[::1]:${port}/health/live`)).rejects.toThrow();
  }
  await service.kill();

  service = await startService(CXONE);
  expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
  if (ipv6) {
    const everyInterface = new URL(service.url).port;
    expect((await fetch(`http://[::1]:${everyInterface}/health/live`)).status).toBe(200);
  }
});

it('refuses to start on a malformed HOST, naming it', async () => {
  await expect(startService({ ...CXONE, HOST: 'not a host' })).rejects.toThrow(
    'Invalid configuration: HOST must be a host name or an IP address',
  );
});
