import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads } from './helpers/api.js';
import { API_KEYS, KEYS } from './helpers/callers.js';
import { startTestApp } from './helpers/test-app.js';

// Property: whatever arrives (random JSON with prototype keys, deep nesting, huge numbers and lone
// surrogates; random headers and query strings) at whatever route, the service answers a success
// or a 4xx problem, never a 5xx, never hangs, and is ready afterwards. The number of runs is
// bounded so the file ends well within a minute; a failure prints its seed and shrunk case.

const RUNS = 400;
const ANSWER_WITHIN_MS = 10_000;

const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'];
const FIELDS = [
  'action_id',
  'payloads',
  'chunk_size',
  'max_workers',
  'timeout_ms',
  'cache_ttl_seconds',
  'callback_url',
  'statuses',
  'state',
];
const HUGE_NUMBERS = [
  '1e400',
  '-1e400',
  '1e-400',
  '123456789012345678901234567890',
  '-0',
  '9007199254740993',
  '4.9e-324',
  '1.7976931348623157e308',
];
const LONE_SURROGATES = ['\\ud800', '\\udfff', 'a\\udc00b', '\\ud83d'];

/** A key: a field the API knows, a prototype member's name, or anything. */
const key = fc.oneof(
  fc.constantFrom(...FIELDS),
  fc.constantFrom(...PROTOTYPE_KEYS),
  fc.string({ maxLength: 12 }),
);

/** JSON text (not a value: huge numbers and lone surrogates only exist as text). */
const jsonText: fc.Memo<string> = fc.memo((depth: number): fc.Arbitrary<string> => {
  const scalar = fc.oneof(
    fc.constantFrom(...HUGE_NUMBERS),
    fc.constantFrom(...LONE_SURROGATES).map((s) => `"${s}"`),
    fc.jsonValue({ maxDepth: 0 }).map((value) => JSON.stringify(value) ?? 'null'),
    fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
  );
  if (depth <= 0) return scalar;
  return fc.oneof(
    { weight: 3, arbitrary: scalar },
    fc
      .array(fc.tuple(key, jsonText(depth - 1)), { maxLength: 5 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    fc.array(jsonText(depth - 1), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
  );
});

/** Arrays and objects `levels` deep, with a value at the bottom. */
const deep = fc
  .tuple(fc.constantFrom(30, 99, 101, 103, 3_000, 20_000), fc.constantFrom('[', '{"k":'))
  .map(([levels, open]) => {
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(levels)}1${close.repeat(levels)}`;
  });

/** A JSON object's text, with any keys. */
const objectText = fc
  .array(fc.tuple(key, jsonText(2)), { maxLength: 4 })
  .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);

/** A body close to a valid batch, so that the parser's deeper checks are reached too. */
const nearlyValidBatch = fc
  .record({
    action: fc.oneof({ weight: 4, arbitrary: fc.constant('"fuzz"') }, jsonText(1)),
    items: fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .array(objectText, { minLength: 1, maxLength: 4 })
          .map((items) => `[${items.join(',')}]`),
      },
      fc.array(jsonText(2), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
      deep.map((nested) => `[${nested}]`),
      fc.constant('[{"id":"x","constructor":{"prototype":1},"__proto__":{"a":1}}]'),
      jsonText(2),
    ),
    extra: fc.oneof(
      { weight: 2, arbitrary: fc.constant([] as [string, string][]) },
      fc.array(fc.tuple(key, fc.oneof(jsonText(2), deep)), { maxLength: 3 }),
    ),
  })
  .map(({ action, items, extra }) => {
    const fields = [`"action_id":${action}`, `"payloads":${items}`, `"cache_ttl_seconds":0`];
    for (const [k, v] of extra) fields.push(`${JSON.stringify(k)}:${v}`);
    return `{${fields.join(',')}}`;
  });

const body = fc.oneof(
  { weight: 4, arbitrary: nearlyValidBatch },
  { weight: 2, arbitrary: jsonText(4) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(key, deep)
      .map(([field, nested]) => `{"action_id":"fuzz",${JSON.stringify(field)}:${nested}}`),
  },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.string({ maxLength: 40, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const batchId = (known: () => string) =>
  fc.oneof(
    fc.constant('KNOWN').map(() => known()),
    fc.uuid().map((id) => id.toLowerCase()),
    fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s) || 'x'),
    fc.constantFrom('..', '%2e%2e', '%00', 'constructor', '__proto__'),
  );

const route = (known: () => string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant({ method: 'POST', path: '/batch/execute' }) },
    batchId(known).map((id) => ({ method: 'GET', path: `/batch/${id}/status` })),
    batchId(known).map((id) => ({ method: 'POST', path: `/batch/${id}/cancel` })),
    batchId(known).map((id) => ({ method: 'POST', path: `/batch/${id}/redrive` })),
    batchId(known).map((id) => ({ method: 'PATCH', path: `/batch/${id}` })),
    fc.constant({ method: 'GET', path: '/batch' }),
    fc.constant({ method: 'GET', path: '/circuits' }),
    fc.constant({ method: 'GET', path: '/health/ready' }),
    fc.constant({ method: 'GET', path: '/metrics' }),
    fc.constant({ method: 'GET', path: '/docs-json' }),
    fc
      .tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.webPath())
      .map(([method, path]) => ({ method, path: path.startsWith('/') ? path : `/${path}` })),
  );

const queryValue = fc.oneof(
  fc.constantFrom(...HUGE_NUMBERS, '', '-1', '0', '1001', 'pending', 'success', 'alpha'),
  fc.integer().map(String),
  fc.string({ maxLength: 30 }),
);
const query = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('offset', 'limit', 'status', 'cursor', 'caller'),
        fc.constantFrom(...PROTOTYPE_KEYS),
        fc.constantFrom('limit[x]', 'status[]', 'a.b'),
        fc.string({ maxLength: 8 }),
      ),
      queryValue,
    ),
    { maxLength: 4 },
  )
  .map((pairs) =>
    pairs.length === 0
      ? ''
      : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`,
  );

/** Header values a client can send: visible ASCII and spaces. */
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 300,
});
const headers = fc.record(
  {
    authorization: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(`Bearer ${KEYS.alpha}`, `Bearer ${KEYS.ops}`) },
      fc.constantFrom(
        `bearer   ${KEYS.beta}  `,
        'Bearer wrong-key',
        'Bearer',
        'Basic YWxwaGE6YWxwaGE=',
        '',
      ),
    ),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      fc.constantFrom(
        'application/json; charset=utf-8',
        'application/json; charset=utf-16',
        'application/json; charset=nope',
        'application/merge-patch+json',
        'text/plain',
        'multipart/form-data; boundary=x',
        '',
      ),
    ),
    encoding: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      fc.constantFrom('gzip', 'gzip-garbage', 'deflate', 'br', 'identity', 'zstd'),
    ),
    idempotencyKey: headerText,
    traceparent: fc.oneof(
      fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
      headerText,
    ),
    extra: fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), headerText),
  },
  { requiredKeys: ['authorization', 'contentType', 'encoding'] },
);

type Sent = { authorization: string; contentType: string; encoding: string | undefined };
const asAlpha: Sent = {
  authorization: `Bearer ${KEYS.alpha}`,
  contentType: 'application/json',
  encoding: undefined,
};
const execute = { method: 'POST', path: '/batch/execute' };
const nested = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;
/** The requests that answered 500 before these checks existed: run first, every time. */
const reportedCases: [{ method: string; path: string }, string, string | undefined, Sent][] = [
  [execute, '', `{"action_id":"a","payloads":[{}],"unknown":${nested(20_000)}}`, asAlpha],
  [execute, '', `{"action_id":"a","payloads":[{}],"unknown":${nested(3_000)}}`, asAlpha],
  [execute, '', `{"action_id":"a","payloads":[{}],"max_workers":${nested(3_000)}}`, asAlpha],
  [execute, '', '{"action_id":"a","payloads":[{}],"unknown":{"constructor":{"a":1}}}', asAlpha],
  [execute, '', '{"action_id":"a","payloads":[{}],"unknown":{"constructor":1}}', asAlpha],
  [execute, '', '{"action_id":{"__proto__":{"x":1}},"payloads":[{}]}', asAlpha],
  [{ method: 'GET', path: '/batch' }, '?constructor=1&__proto__=2', undefined, asAlpha],
  [execute, '', '{"action_id":"a","payloads":[{"a":1}]}', { ...asAlpha, encoding: 'br' }],
];

describe('property: no request makes the service answer 5xx or hang', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let url: string;
  let knownBatch = '';

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      API_KEYS,
      ADMIN_CALLERS: 'ops',
      CALLER_RATE_LIMIT: '100000',
      MAX_BATCH_ITEMS: '1000',
      MAX_BODY_BYTES: '1048576',
    }));
    const accepted = await apiFor(url, { key: KEYS.alpha }).post('/batch/execute', {
      action_id: 'fuzz',
      payloads: payloads(3),
    });
    knownBatch = accepted.body.batch_id;
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it(`answers ${RUNS} random requests with a success or a 4xx problem, then is still ready`, async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        route(() => knownBatch),
        query,
        body,
        headers,
        async (target, search, text, sent) => {
          const init: RequestInit & { headers: Record<string, string> } = {
            method: target.method,
            headers: { authorization: sent.authorization },
            signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
          };
          if (sent.idempotencyKey !== undefined)
            init.headers['idempotency-key'] = sent.idempotencyKey;
          if (sent.traceparent !== undefined) init.headers.traceparent = sent.traceparent;
          if (sent.extra !== undefined) init.headers[sent.extra[0]] = sent.extra[1];
          if (text !== undefined && target.method !== 'GET') {
            if (sent.contentType) init.headers['content-type'] = sent.contentType;
            let bytes: Buffer = Buffer.from(text);
            if (sent.encoding === 'gzip') bytes = gzipSync(bytes);
            if (sent.encoding === 'gzip-garbage')
              bytes = Buffer.concat([Buffer.from([0x1f, 0x8b]), bytes]);
            if (sent.encoding !== undefined) {
              init.headers['content-encoding'] = sent.encoding.replace('-garbage', '');
            }
            init.body = new Uint8Array(bytes);
          }
          const response = await fetch(`${url}${target.path}${search}`, init);
          const answer = await response.text();
          seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
          const where = `${target.method} ${target.path}${search} -> ${response.status} ${answer.slice(0, 300)}`;
          if (response.status >= 500) throw new Error(where);
          if (response.status >= 400) {
            if (!response.headers.get('content-type')?.includes('application/problem+json'))
              throw new Error(`not a problem: ${where}`);
            const problem = JSON.parse(answer) as { status: number };
            if (problem.status !== response.status) throw new Error(`status differs: ${where}`);
          }
        },
      ),
      { numRuns: RUNS, interruptAfterTimeLimit: 45_000, examples: reportedCases },
    );
    // The runs reached past authentication and validation, not only the outer checks.
    for (const status of [200, 202, 400, 401, 404]) expect(seen.get(status)).toBeGreaterThan(0);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    const alive = await apiFor(url, { key: KEYS.alpha }).get(`/batch/${knownBatch}/status`);
    expect(alive.status).toBe(200);
  }, 60_000);
});
