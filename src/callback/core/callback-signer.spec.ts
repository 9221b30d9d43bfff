import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../config/load-config.js';
import { CallbackSigner, signingKey } from './callback-signer.js';

const base = {
  CXONE_SIMULATOR: 'true',
  CXONE_API_URL: 'http://127.0.0.1:9',
  AUTH_DISABLED: 'true',
};
const body = '{"batch_id":"b-1","status":"completed"}';
const at = new Date();
const WHSEC_KEY = Buffer.from('globex-key-bytes-0123456789').toString('base64');

function signer(env: Record<string, string>): CallbackSigner {
  return new CallbackSigner(loadConfig({ ...base, ...env }));
}

describe('CallbackSigner', () => {
  const configured = signer({
    CALLBACK_SECRET: 'fallback-secret-0123',
    CALLBACK_SECRETS: `acme:acme-secret-0123456,globex:whsec_${WHSEC_KEY}`,
  });

  it('signs with the caller’s own secret: standardwebhooks verifies it, and the body HMAC matches', () => {
    const headers = configured.headers({ id: 'msg_1', caller: 'acme' }, body, at);
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(at.getTime() / 1000)));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verified = new Webhook(Buffer.from('acme-secret-0123456'), { format: 'raw' }).verify(
      body,
      headers,
    );
    expect(verified).toEqual(JSON.parse(body));
    expect(headers['x-orchestrator-signature']).toBe(
      `sha256=${createHmac('sha256', 'acme-secret-0123456').update(body).digest('hex')}`,
    );
    // Not the fallback's: another caller's receiver cannot verify (nor forge) it.
    expect(() =>
      new Webhook(Buffer.from('fallback-secret-0123'), { format: 'raw' }).verify(body, headers),
    ).toThrow();
  });

  it('takes a whsec_ secret as the base64 of the key, as Standard Webhooks does', () => {
    const headers = configured.headers({ id: 'msg_2', caller: 'globex' }, body, at);
    expect(new Webhook(`whsec_${WHSEC_KEY}`).verify(body, headers)).toEqual(JSON.parse(body));
    const key = Buffer.from(WHSEC_KEY, 'base64');
    expect(headers['x-orchestrator-signature']).toBe(
      `sha256=${createHmac('sha256', key).update(body).digest('hex')}`,
    );
    expect(signingKey(`whsec_${WHSEC_KEY}`).equals(key)).toBe(true);
  });

  it('falls back to CALLBACK_SECRET for a caller without a secret of its own', () => {
    const headers = configured.headers({ id: 'msg_3', caller: 'default' }, body, at);
    expect(
      new Webhook(Buffer.from('fallback-secret-0123'), { format: 'raw' }).verify(body, headers),
    ).toEqual(JSON.parse(body));
  });

  it('signs nothing without a secret, but still sends the id and timestamp', () => {
    const headers = signer({}).headers({ id: 'msg_4', caller: 'acme' }, body, at);
    expect(Object.keys(headers).sort()).toEqual(['webhook-id', 'webhook-timestamp']);
  });

  it('signs nothing for a caller without a secret when there is no fallback', () => {
    const headers = signer({ CALLBACK_SECRETS: 'acme:acme-secret-0123456' }).headers(
      { id: 'msg_5', caller: 'initech' },
      body,
      at,
    );
    expect(headers['webhook-signature']).toBeUndefined();
    expect(headers['x-orchestrator-signature']).toBeUndefined();
  });
});
