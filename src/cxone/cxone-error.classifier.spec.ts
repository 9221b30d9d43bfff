import { AxiosError, AxiosHeaders, type AxiosResponse } from 'axios';
import { DomainError } from '../lib/domain-error.js';
import { InvalidUpstreamJsonError, classifyFailure } from './cxone-error.classifier.js';

function httpError(status: number, data: string): AxiosError {
  const config = { headers: new AxiosHeaders(), timeout: 1000 };
  const response = {
    status,
    statusText: '',
    headers: {},
    config,
    data,
  } as unknown as AxiosResponse;
  return new AxiosError(`status ${status}`, 'ERR_BAD_RESPONSE', config, null, response);
}

function noResponse(code: string): AxiosError {
  return new AxiosError('failed', code, { headers: new AxiosHeaders(), timeout: 750 });
}

describe('classifyFailure', () => {
  it('names an answer over MAX_RESULT_BYTES RESPONSE_TOO_LARGE, keeping its status', () => {
    const error = Object.assign(noResponse('ERR_RESPONSE_TOO_LARGE'), { status: 200, limit: 1024 });
    expect(classifyFailure(error, 1)).toEqual({
      code: 'RESPONSE_TOO_LARGE',
      message: "CXone's answer is larger than MAX_RESULT_BYTES (1024 bytes); not kept",
      upstreamStatus: 200,
    });
  });

  it('maps statuses to codes, keeping the status and the upstream message', () => {
    expect(classifyFailure(httpError(404, '{"message":"no such action"}'), 1)).toEqual({
      code: 'UPSTREAM_4XX',
      message: 'CXone answered 404: no such action',
      upstreamStatus: 404,
    });
    expect(classifyFailure(httpError(503, '{"message":"down"}'), 4)).toMatchObject({
      code: 'UPSTREAM_5XX',
      upstreamStatus: 503,
      message: 'CXone answered 503: down',
    });
    expect(classifyFailure(httpError(429, ''), 4)).toMatchObject({
      code: 'RATE_LIMITED',
      upstreamStatus: 429,
      message: expect.stringContaining('after 4 attempts'),
    });
    expect(classifyFailure(httpError(401, ''), 2).code).toBe('AUTH_FAILED');
    expect(classifyFailure(httpError(403, ''), 1).code).toBe('AUTH_FAILED');
    expect(classifyFailure(httpError(302, ''), 1)).toMatchObject({
      code: 'UPSTREAM_5XX',
      upstreamStatus: 302,
    });
  });

  it('says when an error body is not JSON, and never crashes on it', () => {
    expect(classifyFailure(httpError(502, '<html>oops</html>'), 1).message).toBe(
      'CXone answered 502 (non-JSON body)',
    );
    expect(classifyFailure(httpError(400, '"just a string"'), 1).message).toBe(
      'CXone answered 400',
    );
  });

  it('cleans and truncates the upstream message', () => {
    const long = 'x'.repeat(500);
    const { message } = classifyFailure(httpError(500, JSON.stringify({ message: long })), 1);
    expect(message.length).toBeLessThan(230);
    const forged = classifyFailure(httpError(400, '{"message":"a\\nFAKE LOG LINE"}'), 1).message;
    expect(forged).toBe('CXone answered 400: a FAKE LOG LINE');
  });

  it('lets the caller redact secrets from the upstream message', () => {
    const body = JSON.stringify({ message: 'bad token tok123 for Bearer abc.def' });
    const { message } = classifyFailure(httpError(400, body), 1, (text) =>
      text.replace('tok123', '[redacted]').replace(/Bearer\s+\S+/g, 'Bearer [redacted]'),
    );
    expect(message).toBe('CXone answered 400: bad token [redacted] for Bearer [redacted]');
  });

  it('classifies failures without a response', () => {
    expect(classifyFailure(noResponse('ETIMEDOUT'), 1)).toEqual({
      code: 'TIMEOUT',
      message: 'CXone did not answer within 750 ms',
    });
    expect(classifyFailure(noResponse('ECONNABORTED'), 1).code).toBe('TIMEOUT');
    expect(classifyFailure(noResponse('ERR_CANCELED'), 1).code).toBe('CANCELLED');
    expect(classifyFailure(noResponse('ECONNRESET'), 4)).toEqual({
      code: 'NETWORK',
      message: 'network error calling CXone (ECONNRESET)',
    });
  });

  it('passes domain errors through and hides unexpected ones', () => {
    const auth = new DomainError('AUTH_FAILED', 'CXone token request failed: HTTP 401');
    expect(classifyFailure(auth, 0)).toEqual({ code: 'AUTH_FAILED', message: auth.message });
    expect(classifyFailure(new InvalidUpstreamJsonError(200), 1)).toEqual({
      code: 'UPSTREAM_5XX',
      message: 'CXone answered 200 with a body that is not JSON',
      upstreamStatus: 200,
    });
    expect(classifyFailure(new TypeError('x is undefined at /secret/path.js'), 1)).toEqual({
      code: 'INTERNAL',
      message: 'unexpected error in the CXone client',
    });
  });
});
