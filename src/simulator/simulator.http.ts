import type { IncomingMessage, ServerResponse } from 'node:http';

export const JSON_TYPE = 'application/json';

/** Writes a complete answer with an explicit Content-Length (cheaper than chunking). */
export function sendText(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
  extraHeaders?: readonly string[],
): void {
  const headers = ['Content-Type', contentType, 'Content-Length', String(Buffer.byteLength(text))];
  if (extraHeaders !== undefined) headers.push(...extraHeaders);
  res.writeHead(status, headers);
  res.end(text);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders?: readonly string[],
): void {
  sendText(res, status, JSON_TYPE, JSON.stringify(body), extraHeaders);
}

export function sendError(
  res: ServerResponse,
  status: number,
  error: string,
  message: string,
  extraHeaders?: readonly string[],
): void {
  sendJson(res, status, { error, message }, extraHeaders);
}

export function methodNotAllowed(res: ServerResponse, method: string | undefined, allow: string) {
  sendError(res, 405, 'method_not_allowed', `${method ?? '?'} is not allowed here`, [
    'Allow',
    allow,
  ]);
}

export function notFound(res: ServerResponse, method: string | undefined, path: string): void {
  sendError(res, 404, 'not_found', `no route for ${method ?? '?'} ${path}`);
}

export function payloadTooLarge(res: ServerResponse, limit: number): void {
  // The rest of the body is not read, so the connection cannot be reused.
  sendError(res, 413, 'payload_too_large', `body over ${limit} bytes`, ['Connection', 'close']);
}

/**
 * Reads the whole body as UTF-8; calls `done(null)` instead when it exceeds `limit` bytes.
 * No 'error' listener on purpose: Node emits an aborted request's error only to listeners,
 * and an aborted call needs no answer (its response's 'close' does the bookkeeping).
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  done: (body: string | null) => void,
): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    done(null);
    return;
  }
  let body = '';
  let tooLarge = false;
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    if (tooLarge) return;
    body += chunk;
    if (body.length > limit) {
      tooLarge = true;
      done(null);
    }
  });
  req.on('end', () => {
    if (!tooLarge) done(body);
  });
}

export function decodePathSegment(segment: string): string | null {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
