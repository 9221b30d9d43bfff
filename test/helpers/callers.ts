import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Callers of the multi-caller tests and their keys; `ops` is the admin. */
export const KEYS = {
  alpha: 'alpha-key-0123456789abcdef',
  beta: 'beta-key-0123456789abcdef',
  gamma: 'gamma-key-0123456789abcdef',
  ops: 'ops-key-0123456789abcdef',
} as const;

export const API_KEYS = Object.entries(KEYS)
  .map(([caller, key]) => `${caller}:${key}`)
  .join(',');

export const bearer = (key: string): Record<string, string> => ({
  authorization: `Bearer ${key}`,
});

/** The resident memory of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

export interface UploadOutcome {
  status: number;
  body: string;
  /** Bytes written when the answer's head arrived. */
  sentWhenAnswered: number;
  declared: number;
}

/**
 * POSTs a body of `declared` bytes in 256 KiB slices, a little at a time, and stops sending as soon
 * as the answer arrives (or the server closes): how long the service let the upload go on shows
 * whether it read the body before answering.
 */
export function slowUpload(
  url: string,
  declared: number,
  headers: Record<string, string>,
): Promise<UploadOutcome> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const slice = Buffer.alloc(256 * 1024, 0x20);
    const req = request(url, {
      method: 'POST',
      headers: { 'content-length': String(declared), ...headers },
    });
    req.on('response', (response) => {
      answered = true;
      const sentWhenAnswered = sent;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        req.destroy();
        resolve({ status: response.statusCode ?? 0, body, sentWhenAnswered, declared });
      });
    });
    req.on('error', (error) => {
      // The server may close the connection once it has answered; the answer is what counts.
      if (!answered) reject(error);
    });
    void (async () => {
      while (!answered && sent < declared && !req.destroyed) {
        const part = slice.subarray(0, Math.min(slice.length, declared - sent));
        sent += part.length;
        if (!req.write(part)) await new Promise((done) => req.once('drain', done));
        await sleep(5);
      }
      if (!answered && !req.destroyed) req.end();
    })().catch(reject);
  });
}
