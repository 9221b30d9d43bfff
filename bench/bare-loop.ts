/**
 * The references for scenario (b): the same execute calls against the same simulator with no
 * orchestration at all. Run as a child process of its own so its CPU time can be read from /proc
 * exactly like the service's. Protocol on stdio: prints "ready" after the token and a warm-up,
 * waits for "go" on stdin, runs the measured calls, prints "done <json>", exits when stdin closes.
 *
 * BARE_CLIENT=http (default): a `node:http` keep-alive loop, the contract's reference.
 * BARE_CLIENT=axios: the service's own HTTP stack for CXone calls (its axios instance settings,
 * the node:http adapter), still without any orchestration, breaker, cache or telemetry, so the
 * service's figure splits into client stack and the rest.
 */
import axios, { type AxiosInstance, type CreateAxiosDefaults } from 'axios';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const simUrl = new URL(required('BARE_SIM_URL'));
const actionId = required('BARE_ACTION_ID');
const concurrency = positive('BARE_CONCURRENCY');
const items = positive('BARE_ITEMS');
const warmup = Number(process.env.BARE_WARMUP ?? '0');
const idOffset = Number(process.env.BARE_ID_OFFSET ?? '0');
const watchdogMs = positive('BARE_TIMEOUT_MS');
const clientKind = process.env.BARE_CLIENT ?? 'http';
if (clientKind !== 'http' && clientKind !== 'axios') fail('BARE_CLIENT must be http or axios');

if (simUrl.hostname !== '127.0.0.1') fail('BARE_SIM_URL must be on 127.0.0.1');
const executePath = `/api/v2/data-actions/${encodeURIComponent(actionId)}/execute`;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });

setTimeout(() => fail(`gave up after ${watchdogMs} ms`), watchdogMs).unref();

function required(name: string): string {
  const value = process.env[name];
  if (!value) fail(`${name} is required`);
  return value;
}

function positive(name: string): number {
  const value = Number(required(name));
  if (!Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer`);
  return value;
}

function fail(message: string): never {
  process.stderr.write(`bare-loop: ${message}\n`);
  process.exit(2);
}

function post(
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: simUrl.hostname,
        port: simUrl.port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The built service modules the axios reference loads (dist/bench/.. is dist/). The loop only
 * hands the service's own values from one of its functions to the next, so they stay opaque here.
 */
interface ServiceModules {
  config: { loadConfig(env: Record<string, string>): { cxone: unknown } };
  http: {
    cxoneHttpOptions(config: unknown): CreateAxiosDefaults;
    trimAxiosDefaults(axios: AxiosInstance): void;
  };
}

const SERVICE_MODULE_PATHS: Record<keyof ServiceModules, string> = {
  config: '../config/load-config.js',
  http: '../cxone/cxone.http-config.js',
};

async function serviceModule<K extends keyof ServiceModules>(name: K): Promise<ServiceModules[K]> {
  const url = new URL(SERVICE_MODULE_PATHS[name], import.meta.url).href;
  return (await import(url)) as ServiceModules[K];
}

/**
 * `post` through the service's axios stack: the instance the service builds from its
 * configuration (the defaults of the environment the bench gives the service), its trimmed
 * defaults and the node:http adapter.
 */
async function axiosPost(): Promise<typeof post> {
  await import('reflect-metadata'); // the service's decorated classes need it, as in its main.ts
  const { loadConfig } = await serviceModule('config');
  const http = await serviceModule('http');
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: simUrl.origin,
    AUTH_DISABLED: 'true',
    CXONE_MAX_CONCURRENCY: String(concurrency),
  });
  const client = axios.create(http.cxoneHttpOptions(config));
  http.trimAxiosDefaults(client);
  return async (path, body, headers) => {
    const response = await client.request<string>({
      method: 'post',
      url: `${simUrl.origin}${path}`,
      data: body,
      headers,
      timeout: 10_000,
      validateStatus: () => true,
    });
    return { status: response.status, text: response.data };
  };
}

async function token(): Promise<string> {
  const answer = await post(
    '/platform/oauth/token',
    'grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret',
    { 'content-type': 'application/x-www-form-urlencoded' },
  );
  const body = JSON.parse(answer.text) as { access_token?: string };
  if (answer.status !== 200 || !body.access_token) fail(`token request answered ${answer.status}`);
  return body.access_token;
}

async function run(
  send: typeof post,
  accessToken: string,
  count: number,
  firstId: number,
): Promise<number> {
  const headers = {
    authorization: `Bearer ${accessToken}`,
    'content-type': 'application/json',
    accept: 'application/json',
  };
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const id = firstId + next++;
      const answer = await send(executePath, JSON.stringify({ id, n: id }), {
        ...headers,
        'x-request-id': `bare-${id}`,
      });
      JSON.parse(answer.text);
      if (answer.status !== 200) failures++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return failures;
}

const accessToken = await token();
const send = clientKind === 'axios' ? await axiosPost() : post;
if (warmup > 0) await run(send, accessToken, warmup, idOffset + items);
process.stdout.write('ready\n');

const lines = createInterface({ input: process.stdin });
lines.on('close', () => process.exit(0));
for await (const line of lines) {
  if (line.trim() !== 'go') continue;
  const started = performance.now();
  const failures = await run(send, accessToken, items, idOffset);
  const wallMs = performance.now() - started;
  process.stdout.write(`done ${JSON.stringify({ items, failures, wall_ms: wallMs })}\n`);
}
