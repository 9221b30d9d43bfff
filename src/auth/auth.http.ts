/**
 * The few HTTP requests of the auth layer (token, discovery) go through Node's fetch:
 * they are rare, and only the CXone client owns an axios instance with its interceptors.
 * Every failure is reported as a short message that never holds a request body or header.
 */
export interface JsonAnswer {
  status: number;
  /** The parsed body, or undefined when it was not JSON. */
  body: unknown;
}

export class AuthHttpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthHttpError';
  }
}

export async function requestJson(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<JsonAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers: { accept: 'application/json', ...init.headers },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    throw new AuthHttpError(describeFetchError(error, timeoutMs));
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new AuthHttpError(describeFetchError(error, timeoutMs));
  }
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return `network error (${cause.code})`;
  return 'network error';
}

/** An OAuth `error` code is a short token from a fixed vocabulary; anything else is dropped. */
export function oauthErrorCode(body: unknown): string | undefined {
  const code = (body as { error?: unknown } | undefined)?.error;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}

export function stringField(body: unknown, field: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
