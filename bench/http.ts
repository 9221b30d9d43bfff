import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  elapsedMs: number;
}

export interface HttpRequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  agent?: Agent;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The benchmark only ever talks to processes it started on this machine. */
export function requireLoopback(url: string | URL): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' || parsed.hostname !== '127.0.0.1') {
    throw new Error(
      `refusing to send benchmark traffic to ${parsed.origin}: only http://127.0.0.1`,
    );
  }
  return parsed;
}

/** One HTTP/1.1 exchange; the body is read in full, `elapsedMs` covers request to last byte. */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = requireLoopback(url);
  const started = performance.now();
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) {
    headers['content-length'] = String(Buffer.byteLength(options.body));
  }
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: options.method ?? 'GET', headers, agent: options.agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            elapsedMs: performance.now() - started,
          }),
        );
      },
    );
    req.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => {
      req.destroy(new Error(`${req.method} ${target.pathname} timed out`));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export function postJson(
  url: string,
  body: string,
  options: Omit<HttpRequestOptions, 'method' | 'body'> = {},
): Promise<HttpResponse> {
  return httpRequest(url, {
    ...options,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
  });
}

export function parseJson<T>(response: HttpResponse, what: string): T {
  try {
    return JSON.parse(response.text) as T;
  } catch {
    throw new Error(
      `${what}: answer is not JSON (status ${response.status}): ${excerpt(response.text)}`,
    );
  }
}

export function excerpt(text: string, length = 300): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}
