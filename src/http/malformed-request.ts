import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from './problem-details.js';

/** Statuses other than 400 for what Node refuses, by its error code. */
const STATUS_BY_CODE: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/**
 * Requests Node's HTTP parser refuses never reach Express (bytes past a Content-Length that
 * lied, a malformed request line or header): Node would answer a bare `400` with no body. These
 * get a problem document like every other error, and the connection is closed.
 */
export function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, title] = STATUS_BY_CODE[error.code ?? ''] ?? [400, 'Bad Request'];
    const body = JSON.stringify({
      type: `${PROBLEM_TYPE_BASE}validation-failed`,
      title,
      status,
      detail: 'The request is not well-formed HTTP/1.1.',
      instance: '',
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'request', message: 'is not well-formed HTTP/1.1' }],
    });
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
