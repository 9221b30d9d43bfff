import {
  AxiosError,
  AxiosHeaders,
  CanceledError,
  type AxiosAdapter,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import {
  Agent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type ProxyEnv,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';

/** An axios adapter that also owns its connection pool, closed with the client. */
export interface ClosableAdapter extends AxiosAdapter {
  close(): Promise<void>;
}

export interface NodeHttpAdapterOptions {
  /** Most open connections per origin (CXONE_MAX_CONCURRENCY). */
  connections: number;
  /** Largest answer accepted; a bigger one fails the call instead of exhausting memory. */
  maxResponseBytes: number;
  /**
   * Where a complete answer is handed to axios (its resolve or reject); by default at once, in
   * the turn that read it. The service passes a `TurnBudget`'s `run`.
   */
  handOn?: (task: () => void) => void;
  /**
   * Where a request is created and written to its socket; by default at once. The service passes
   * a `TurnBatch`'s `run`, so the requests a turn starts are written together.
   */
  dispatch?: (send: () => void) => void;
  /** HTTP_PROXY, HTTPS_PROXY, NO_PROXY for Node's built-in proxy support; unset: direct connections. */
  proxyEnv?: ProxyEnv;
}

const atOnce = (task: () => void): void => task();

function fullUrl(config: InternalAxiosRequestConfig): URL {
  const url = config.url ?? '';
  if (config.baseURL && !/^[a-z][a-z\d+.-]*:\/\//i.test(url)) {
    return new URL(`${config.baseURL.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`);
  }
  return new URL(url);
}

/** A request URL parsed once: `node:http`'s options for it, and what errors report. */
interface Target {
  href: string;
  secure: boolean;
  options: RequestOptions;
}

/** A client calls a few URLs (one per action): the bound only matters to a caller of many. */
const MAX_TARGETS = 1024;

/**
 * The parsed target of each URL the adapter has sent to, so a call does not parse its URL and
 * turn it into request options again.
 */
function targetCache(): (config: InternalAxiosRequestConfig) => Target {
  const targets = new Map<string, Target>();
  return (config) => {
    const key = config.baseURL ? `${config.baseURL} ${config.url ?? ''}` : (config.url ?? '');
    let target = targets.get(key);
    if (target === undefined) {
      const url = fullUrl(config);
      target = {
        href: url.href,
        secure: url.protocol === 'https:',
        options: urlToHttpOptions(url),
      };
      if (targets.size >= MAX_TARGETS) targets.clear();
      targets.set(key, target);
    }
    return target;
  };
}

/** Why a request ended before its answer did: decides the error axios-retry and the classifier see. */
type Interruption = 'timeout' | 'cancel' | 'too-large';

/**
 * The code of the error for a 2xx answer larger than the limit (read no further than the limit):
 * not a network failure, and not retried (the same call would answer the same).
 */
export const RESPONSE_TOO_LARGE = 'ERR_RESPONSE_TOO_LARGE';

/**
 * Sends axios requests over `node:http` keep-alive agents instead of axios's own http adapter,
 * whose redirect following, proxies, streams and decompression (none of which CXone calls use)
 * cost CPU on every call. The interceptors, axios-retry and error shapes stay axios's. A socket
 * freed by an answer serves the next call at once, in the same event-loop turn; undici, tried
 * before, waits a turn before reusing an idle socket, so under load every call also waited for
 * the turn's other answers.
 * Implements what the adapter owns in axios: the per-request `timeout` (a hard deadline, reported
 * as ETIMEDOUT), `signal` (ERR_CANCELED), `validateStatus`, `maxContentLength`; redirects are
 * never followed.
 */
export function nodeHttpAdapter(options: NodeHttpAdapterOptions): ClosableAdapter {
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.connections,
    maxFreeSockets: options.connections,
    scheduling: 'lifo' as const,
    ...(options.proxyEnv ? { proxyEnv: options.proxyEnv } : {}),
  };
  const handOn = options.handOn ?? atOnce;
  const dispatch = options.dispatch ?? atOnce;
  const httpAgent = new Agent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);
  const targetOf = targetCache();

  const adapter = (config: InternalAxiosRequestConfig): Promise<AxiosResponse<string>> =>
    new Promise((resolve, reject) => {
      const { href, secure, options: target } = targetOf(config);
      const request = { method: config.method, url: href };
      const limit = Math.min(
        config.maxContentLength !== undefined && config.maxContentLength > 0
          ? config.maxContentLength
          : options.maxResponseBytes,
        options.maxResponseBytes,
      );
      const body = config.data as string | Buffer | undefined;
      const headers = AxiosHeaders.from(config.headers);
      if (body !== undefined && body !== null) {
        headers.set('Content-Length', String(Buffer.byteLength(body)));
      }

      let interruption: Interruption | undefined;
      let settled = false;
      const timeoutMs = config.timeout ?? 0;
      const external = config.signal as AbortSignal | undefined;
      const done = (): void => {
        settled = true;
        if (timer) clearTimeout(timer);
        external?.removeEventListener?.('abort', onExternalAbort);
      };
      const fail = (error: Error): void => {
        if (settled) return;
        done();
        reject(error);
      };
      let req: ClientRequest | undefined;
      /** Rejects with the error of the interruption, or ECONNRESET for a connection that closed. */
      const reportClosed = (): void => {
        if (interruption === 'timeout') {
          fail(
            new AxiosError(
              `timeout of ${timeoutMs}ms exceeded`,
              AxiosError.ETIMEDOUT,
              config,
              request,
            ),
          );
        } else if (interruption === 'cancel') {
          fail(new CanceledError(undefined, config, request));
        } else if (interruption === 'too-large') {
          fail(tooLarge());
        } else {
          fail(new AxiosError('socket hang up', 'ECONNRESET', config, request));
        }
      };
      const interrupt = (why: Interruption): void => {
        if (settled || interruption) return;
        interruption = why;
        // Not sent yet: nothing to close, and the dispatched send will see the interruption.
        if (req) req.destroy();
        else reportClosed();
      };
      const onExternalAbort = (): void => interrupt('cancel');
      let answerStatus = 0;
      /**
       * A 2xx answer over the limit is RESPONSE_TOO_LARGE, with its status (CXone did answer); any
       * other answer fails by its status as usual, without the body that was not read.
       */
      const tooLarge = (): AxiosError => {
        const status = answerStatus;
        const validate = config.validateStatus;
        if (validate && !validate(status)) {
          const response: AxiosResponse<string> = {
            data: '',
            status,
            statusText: '',
            headers: new AxiosHeaders(),
            config,
            request,
          };
          return new AxiosError(
            `Request failed with status code ${status}`,
            status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST,
            config,
            request,
            response,
          );
        }
        return Object.assign(
          new AxiosError(
            `maxContentLength size of ${limit} exceeded`,
            RESPONSE_TOO_LARGE,
            config,
            request,
          ),
          { status, limit },
        );
      };

      const onResponse = (answer: IncomingMessage): void => {
        answerStatus = answer.statusCode ?? 0;
        const declared = Number(answer.headers['content-length']);
        if (Number.isFinite(declared) && declared > limit) {
          interrupt('too-large');
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        answer.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) interrupt('too-large');
          else chunks.push(chunk);
        });
        answer.on('error', () => undefined); // reported through the request's 'error' or 'close'
        answer.on('end', () => {
          if (settled || interruption) return;
          done();
          const status = answer.statusCode ?? 0;
          const response: AxiosResponse<string> = {
            data:
              chunks.length === 1
                ? chunks[0].toString('utf8')
                : Buffer.concat(chunks).toString('utf8'),
            status,
            statusText: answer.statusMessage ?? '',
            headers: new AxiosHeaders(answer.headers as Record<string, string>),
            config,
            request,
          };
          const validate = config.validateStatus;
          if (!validate || validate(status)) {
            handOn(() => resolve(response));
            return;
          }
          const error = new AxiosError(
            `Request failed with status code ${status}`,
            status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST,
            config,
            request,
            response,
          );
          handOn(() => reject(error));
        });
      };

      // Never throws: it may run in a batch of other calls' sends (a `TurnBatch`).
      const send = (): void => {
        if (settled || interruption) return;
        try {
          const sent = (secure ? httpsRequest : httpRequest)(
            {
              ...target,
              method: (config.method ?? 'get').toUpperCase(),
              headers: headers.toJSON(true),
              agent: secure ? httpsAgent : httpAgent,
            },
            onResponse,
          );
          req = sent;
          sent.on('error', (error: NodeJS.ErrnoException) => {
            if (interruption) return; // 'close' reports it
            const code = error.code ?? 'ERR_NETWORK';
            fail(new AxiosError(error.message, code, config, request));
          });
          // Also emitted after every answer, when the socket goes back to the pool.
          sent.on('close', () => {
            if (!settled) reportClosed();
          });
          sent.end(body);
        } catch (error) {
          // Refused before sending (a header value or a body node:http will not write): a call
          // error, not a crash.
          const { code, message } = error as NodeJS.ErrnoException;
          fail(new AxiosError(message, code ?? AxiosError.ERR_BAD_OPTION_VALUE, config, request));
          req?.destroy();
        }
      };

      const timer = timeoutMs > 0 ? setTimeout(() => interrupt('timeout'), timeoutMs) : undefined;
      if (external?.aborted) interrupt('cancel');
      else external?.addEventListener?.('abort', onExternalAbort, { once: true });
      dispatch(send);
    });

  return Object.assign(adapter, {
    close: async () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  });
}
