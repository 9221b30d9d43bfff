import { loadConfig } from '../../config/load-config.js';
import { CENSOR, secretsOf, secretScrubber, serializeError } from './log-redaction.js';

describe('secretsOf', () => {
  it('names a proxy password both as written in the URL and decoded', () => {
    const config = loadConfig({
      CXONE_TENANT: 'acme',
      CXONE_CLIENT_ID: 'client-id',
      CXONE_CLIENT_SECRET: 'client-secret-value',
      API_KEYS: 'key-one, key-two',
      https_proxy: 'http://lower:lower%2Fpass-2@proxy.corp:3128',
    });
    expect(secretsOf(config)).toEqual(expect.arrayContaining(['lower%2Fpass-2', 'lower/pass-2']));
  });

  it('names every callback secret, a whsec_ one also without its prefix', () => {
    const key = Buffer.from('sixteen-byte-key-plus').toString('base64');
    const config = loadConfig({
      CXONE_TENANT: 'acme',
      CXONE_CLIENT_ID: 'client-id',
      CXONE_CLIENT_SECRET: 'client-secret-value',
      API_KEYS: 'key-one',
      CALLBACK_SECRET: 'fallback-secret-0123',
      CALLBACK_SECRETS: `acme:acme-secret-0123456,globex:whsec_${key}`,
    });
    expect(secretsOf(config)).toEqual(
      expect.arrayContaining(['fallback-secret-0123', 'acme-secret-0123456', `whsec_${key}`, key]),
    );
  });

  it('names the access key secret of the access-key grant, and no OAuth client it does not have', () => {
    const secrets = secretsOf(
      loadConfig({
        CXONE_GRANT_TYPE: 'access_key',
        CXONE_AREA: 'na1',
        CXONE_ACCESS_KEY_ID: 'AK-ID-1',
        CXONE_ACCESS_KEY_SECRET: 'access-key-secret-value',
        API_KEYS: 'key-one',
      }),
    );
    expect(secrets).toContain('access-key-secret-value');
    expect(secrets).not.toContain('');
    expect(secrets).not.toContain('AK-ID-1');
  });
});

describe('secretScrubber', () => {
  const scrub = secretScrubber(['s3cret-value', 'key"with\\quote']);

  it.each([
    ['a known secret anywhere', 'failed: s3cret-value rejected', 'failed: [redacted] rejected'],
    ['a JSON-escaped secret', '{"msg":"key\\"with\\\\quote"}', '{"msg":"[redacted]"}'],
    [
      'bearer tokens',
      '{"msg":"sent Bearer eyJhbGci.eyJzdWIi.sig=="}',
      '{"msg":"sent Bearer [redacted]"}',
    ],
    ['basic credentials', 'Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic [redacted]'],
    [
      'form fields',
      'grant_type=password&password=hunter22&client_secret=abc',
      'grant_type=password&password=[redacted]&client_secret=[redacted]',
    ],
    [
      "the access-key grant's JSON body, even with a secret not configured",
      '{"msg":"body {\\"accessKeyId\\":\\"AK1\\",\\"accessKeySecret\\":\\"other-secret\\"}"}',
      '{"msg":"body {\\"accessKeyId\\":\\"AK1\\",\\"accessKeySecret\\":\\"[redacted]\\"}"}',
    ],
    [
      'JSON text in a message',
      '{"msg":"body {\\"access_token\\":\\"tok123\\"}"}',
      '{"msg":"body {\\"access_token\\":\\"[redacted]\\"}"}',
    ],
  ])('removes %s', (_case, line, expected) => {
    expect(scrub(line)).toBe(expected);
  });

  it('leaves ordinary lines and already-redacted fields as they are', () => {
    const line = '{"msg":"Batch completed","access_token":"[redacted]","batch_id":"b-1"}';
    expect(scrub(line)).toBe(line);
  });

  it('changes nothing when there are no secrets and no credentials', () => {
    expect(secretScrubber([])('plain text')).toBe('plain text');
  });
});

describe('serializeError', () => {
  it('drops the request an HTTP client error carries', () => {
    const error = Object.assign(new Error('boom'), {
      config: { headers: { Authorization: 'Bearer t' } },
      request: {},
      response: { data: 'x' },
      code: 'ECONNRESET',
    });
    const serialized = serializeError(error) as Record<string, unknown>;
    expect(serialized).toMatchObject({ message: 'boom', code: 'ECONNRESET' });
    expect(serialized).not.toHaveProperty('config');
    expect(serialized).not.toHaveProperty('request');
    expect(serialized).not.toHaveProperty('response');
    expect(CENSOR).toBe('[redacted]');
  });
});
