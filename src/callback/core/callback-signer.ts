import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Webhook } from 'standardwebhooks';
import { AppConfig } from '../../config/app-config.js';

const WHSEC = 'whsec_';

/** The HMAC key of a secret: after `whsec_`, the base64 of the key bytes (Standard Webhooks); otherwise the secret's UTF-8 bytes. */
export function signingKey(secret: string): Buffer {
  return secret.startsWith(WHSEC)
    ? Buffer.from(secret.slice(WHSEC.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

interface CallerKey {
  key: Buffer;
  webhook: Webhook;
}

function callerKey(secret: string): CallerKey {
  const key = signingKey(secret);
  return { key, webhook: new Webhook(key, { format: 'raw' }) };
}

/**
 * Signs callbacks with the batch owner's secret (CALLBACK_SECRETS), else CALLBACK_SECRET: the
 * Standard Webhooks headers (through the `standardwebhooks` package, the reference
 * implementation) and `X-Orchestrator-Signature`, an HMAC of the body alone, which receivers
 * written for the original design check. With no secret for the caller, nothing is signed.
 */
@Injectable()
export class CallbackSigner {
  private readonly byCaller = new Map<string, CallerKey>();
  private readonly fallback: CallerKey | undefined;

  constructor(config: AppConfig) {
    for (const [caller, secret] of config.callback.secrets)
      this.byCaller.set(caller, callerKey(secret));
    this.fallback =
      config.callback.secret === undefined ? undefined : callerKey(config.callback.secret);
  }

  /** The headers of one attempt at `at` (its `webhook-timestamp`). */
  headers(
    delivery: { id: string; caller: string },
    body: string,
    at: Date,
  ): Record<string, string> {
    const headers: Record<string, string> = {
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    };
    const signer = this.byCaller.get(delivery.caller) ?? this.fallback;
    if (signer) {
      headers['webhook-signature'] = signer.webhook.sign(delivery.id, at, body);
      headers['x-orchestrator-signature'] =
        `sha256=${createHmac('sha256', signer.key).update(body).digest('hex')}`;
    }
    return headers;
  }
}
