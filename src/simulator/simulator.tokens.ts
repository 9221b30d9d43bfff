import { randomBytes } from 'node:crypto';
import type { ClientAuthMethod } from './simulator.state.js';

/** Opaque bearer tokens issued by this simulator, with their expiry. */
export class TokenStore {
  private readonly expiries = new Map<string, number>();

  issue(lifetimeSeconds: number, now: number): string {
    if (this.expiries.size >= 10_000) this.sweep(now);
    const token = `sim_${randomBytes(24).toString('base64url')}`;
    this.expiries.set(token, now + lifetimeSeconds * 1000);
    return token;
  }

  /** null when the header carries a live token, else why it does not. */
  rejection(authorization: string | undefined, now: number): string | null {
    if (authorization === undefined || authorization.length < 8) {
      return 'missing bearer token';
    }
    if (
      !authorization.startsWith('Bearer ') &&
      authorization.slice(0, 7).toLowerCase() !== 'bearer '
    ) {
      return 'authorization scheme must be Bearer';
    }
    const expiresAt = this.expiries.get(authorization.slice(7).trim());
    if (expiresAt === undefined) return 'unknown token';
    if (now >= expiresAt) return 'token expired';
    return null;
  }

  clear(): void {
    this.expiries.clear();
  }

  private sweep(now: number): void {
    for (const [token, expiresAt] of this.expiries) {
      if (now >= expiresAt) this.expiries.delete(token);
    }
  }
}

export interface ExpectedCredentials {
  clientId: string;
  clientSecret: string;
  accessKeyId: string;
  accessKeySecret: string;
}

export interface TokenRequestSummary {
  grantType: string | null;
  scope: string | null;
  clientAuth: ClientAuthMethod;
}

export type TokenRequestVerdict =
  | { ok: true; scope: string | null }
  | { ok: false; status: number; error: string; description: string; basicChallenge: boolean };

/** What was sent (never a secret), readable even when the request is then refused. */
export interface ParsedTokenRequest {
  summary: TokenRequestSummary;
  verdict: TokenRequestVerdict;
}

/**
 * Checks an OAuth 2.0 token request (RFC 6749 sections 2.3.1, 4.3 and 4.4): grant
 * `client_credentials` (client id and secret in the form or as HTTP Basic) or `password`
 * (username/password = access key id/secret; client credentials optional).
 */
export function parseTokenRequest(
  contentType: string | undefined,
  authorization: string | undefined,
  body: string,
  expected: ExpectedCredentials,
): ParsedTokenRequest {
  const isForm =
    contentType !== undefined &&
    contentType.toLowerCase().split(';')[0].trim() === 'application/x-www-form-urlencoded';
  const form = new URLSearchParams(isForm ? body : '');
  const grantType = form.get('grant_type');
  const scope = form.get('scope');
  const basic = parseBasic(authorization);
  const inBody = form.has('client_id') || form.has('client_secret');
  const clientAuth: ClientAuthMethod = basic !== null ? 'basic' : inBody ? 'body' : 'none';
  const summary = { grantType, scope, clientAuth };
  const fail = (status: number, error: string, description: string) => ({
    summary,
    verdict: { ok: false as const, status, error, description, basicChallenge: basic !== null },
  });

  if (!isForm) {
    return fail(400, 'invalid_request', 'content type must be application/x-www-form-urlencoded');
  }
  if (basic === 'malformed') {
    return fail(400, 'invalid_request', 'malformed Basic authorization header');
  }
  if (basic !== null && inBody) {
    return fail(400, 'invalid_request', 'client credentials sent both as Basic and in the body');
  }
  if (grantType === null || grantType === '') {
    return fail(400, 'invalid_request', 'grant_type is required');
  }
  if (grantType !== 'client_credentials' && grantType !== 'password') {
    return fail(400, 'unsupported_grant_type', `grant type ${grantType} is not supported`);
  }

  const client = basic ?? { id: form.get('client_id'), secret: form.get('client_secret') };
  const clientSent = client.id !== null || client.secret !== null;
  if (grantType === 'client_credentials' && !clientSent) {
    return fail(401, 'invalid_client', 'client authentication is required');
  }
  if (clientSent && (client.id !== expected.clientId || client.secret !== expected.clientSecret)) {
    return fail(401, 'invalid_client', 'client authentication failed');
  }
  if (grantType === 'password') {
    const username = form.get('username');
    const password = form.get('password');
    if (username === null || password === null) {
      return fail(400, 'invalid_request', 'username and password are required');
    }
    if (username !== expected.accessKeyId || password !== expected.accessKeySecret) {
      return fail(401, 'invalid_client', 'access key id or secret is wrong');
    }
  }
  return { summary, verdict: { ok: true, scope } };
}

/**
 * Checks a request to NICE's access-key endpoint: a JSON object with `accessKeyId` and
 * `accessKeySecret` (strings), no OAuth client.
 */
export function parseAccessKeyRequest(
  contentType: string | undefined,
  body: string,
  expected: ExpectedCredentials,
): ParsedTokenRequest {
  const summary: TokenRequestSummary = { grantType: 'access_key', scope: null, clientAuth: 'none' };
  const fail = (status: number, error: string, description: string) => ({
    summary,
    verdict: { ok: false as const, status, error, description, basicChallenge: false },
  });
  const isJson =
    contentType !== undefined &&
    contentType.toLowerCase().split(';')[0].trim() === 'application/json';
  if (!isJson) return fail(400, 'invalid_request', 'content type must be application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return fail(400, 'invalid_request', 'body must be JSON');
  }
  const { accessKeyId, accessKeySecret } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof accessKeyId !== 'string' || typeof accessKeySecret !== 'string') {
    return fail(400, 'invalid_request', 'accessKeyId and accessKeySecret (strings) are required');
  }
  if (accessKeyId !== expected.accessKeyId || accessKeySecret !== expected.accessKeySecret) {
    return fail(401, 'invalid_client', 'access key id or secret is wrong');
  }
  return { summary, verdict: { ok: true, scope: null } };
}

function parseBasic(
  authorization: string | undefined,
): { id: string; secret: string } | 'malformed' | null {
  if (authorization === undefined || authorization.slice(0, 6).toLowerCase() !== 'basic ') {
    return null;
  }
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  try {
    // RFC 6749 2.3.1: id and secret are form-urlencoded before being joined.
    return {
      id: decodeFormComponent(decoded.slice(0, colon)),
      secret: decodeFormComponent(decoded.slice(colon + 1)),
    };
  } catch {
    return 'malformed';
  }
}

function decodeFormComponent(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}
