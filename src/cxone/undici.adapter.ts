import {
  AxiosError,
  AxiosHeaders,
  CanceledError,
  type AxiosAdapter,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { Agent, type Dispatcher } from 'undici';

/** An axios adapter that also owns its connection pool, closed with the client. */
export interface ClosableAdapter extends AxiosAdapter {
  close(): Promise<void>;
}

export interface UndiciAdapterOptions {
  /** Most open connections per origin (CXONE_MAX_CONCURRENCY). */
  connections: number;
  /** Largest answer accepted; a bigger one fails the call instead of exhausting memory. */
  maxResponseBytes: number;
}

// What undici says when a connection drops, in the words axios-retry and the classifier know.
const SOCKET_ERROR_CODES: Record<string, string> = {
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_CLOSED: 'ECONNRESET',
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
};

function fullUrl(config: InternalAxiosRequestConfig): URL {
  const url = config.url ?? '';
  if (config.baseURL && !/^[a-z][a-z\d+.-]*:\/\//i.test(url)) {
    return new URL(`${config.baseURL.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`);
  }
  return new URL(url);
}

/** Drops an answer we will not read; the connection is closed rather than drained. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

async function readBody(
  answer: Dispatcher.ResponseData,
  limit: number,
): Promise<string | undefined> {
  const declared = Number(answer.headers['content-length']);
  if (Number.isFinite(declared)) {
    if (declared <= limit) return answer.body.text();
    discard(answer.body);
    return undefined;
  }
  // No declared length (chunked): count as it streams in.
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      discard(answer.body);
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Sends axios requests through undici instead of axios's node:http adapter. The interceptors,
 * axios-retry and error shapes stay axios's; the transport costs about a third of the CPU
 * (measured: 63 µs against 163 µs per call on the benchmark machine). Implements what the
 * adapter owns in axios: the per-request `timeout` (a hard deadline, reported as ETIMEDOUT),
 * `signal` (ERR_CANCELED), `validateStatus`, `maxContentLength`; redirects are never followed.
 */
export function undiciAdapter(options: UndiciAdapterOptions): ClosableAdapter {
  const dispatcher = new Agent({ connections: options.connections, pipelining: 1 });

  const adapter = async (config: InternalAxiosRequestConfig): Promise<AxiosResponse<string>> => {
    const url = fullUrl(config);
    const request = { method: config.method, url: url.href };
    const controller = new AbortController();
    const timeoutMs = config.timeout ?? 0;
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const external = config.signal as AbortSignal | undefined;
    const onExternalAbort = (): void => controller.abort();
    if (external?.aborted) controller.abort();
    external?.addEventListener?.('abort', onExternalAbort, { once: true });

    try {
      const answer = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: (config.method ?? 'get').toUpperCase(),
        headers: AxiosHeaders.from(config.headers).toJSON(true),
        body: (config.data as string | Buffer | undefined) ?? null,
        signal: controller.signal,
      });
      const limit =
        config.maxContentLength !== undefined && config.maxContentLength > 0
          ? config.maxContentLength
          : options.maxResponseBytes;
      const data = await readBody(answer, Math.min(limit, options.maxResponseBytes));
      if (data === undefined) {
        throw new AxiosError(
          `maxContentLength size of ${limit} exceeded`,
          AxiosError.ERR_BAD_RESPONSE,
          config,
          request,
        );
      }
      const response: AxiosResponse<string> = {
        data,
        status: answer.statusCode,
        statusText: '',
        headers: new AxiosHeaders(answer.headers as Record<string, string>),
        config,
        request,
      };
      const validate = config.validateStatus;
      if (!validate || validate(answer.statusCode)) return response;
      throw new AxiosError(
        `Request failed with status code ${answer.statusCode}`,
        answer.statusCode >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST,
        config,
        request,
        response,
      );
    } catch (error) {
      if (error instanceof AxiosError) throw error;
      if (timedOut) {
        throw new AxiosError(
          `timeout of ${timeoutMs}ms exceeded`,
          AxiosError.ETIMEDOUT,
          config,
          request,
        );
      }
      if (controller.signal.aborted) throw new CanceledError(undefined, config, request);
      const code = (error as { code?: string }).code ?? 'ERR_NETWORK';
      throw new AxiosError(
        (error as Error).message,
        SOCKET_ERROR_CODES[code] ?? code,
        config,
        request,
      );
    } finally {
      if (timer) clearTimeout(timer);
      external?.removeEventListener?.('abort', onExternalAbort);
    }
  };
  return Object.assign(adapter, { close: () => dispatcher.close() });
}
