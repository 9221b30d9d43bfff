import { createHmac } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppConfig } from '../../config/app-config.js';
import type { BatchMeta, BatchSummary } from './batch.types.js';

const MAX_ATTEMPTS = 5;
const FIRST_DELAY_MS = 500;
const ATTEMPT_TIMEOUT_MS = 10_000;

export function signatureOf(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** POSTs `{batch_id, status, summary, trace_id}` to a batch's callback_url once it ends, signed, with retries. */
@Injectable()
export class CallbackService {
  private readonly logger = new Logger(CallbackService.name);
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly config: AppConfig) {}

  notify(meta: BatchMeta, summary: BatchSummary): void {
    const url = meta.options.callbackUrl;
    if (!url) return;
    const body = JSON.stringify({
      batch_id: meta.batchId,
      status: meta.status,
      summary,
      trace_id: meta.traceId,
    });
    const delivery = this.deliver(url, body, meta.batchId).finally(() =>
      this.pending.delete(delivery),
    );
    this.pending.add(delivery);
  }

  /** Waits for deliveries under way (shutdown, tests). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async deliver(url: string, body: string, batchId: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.config.callback.secret)
      headers['x-orchestrator-signature'] = signatureOf(body, this.config.callback.secret);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        await response.arrayBuffer();
        if (response.ok) return;
        if (response.status < 500 && response.status !== 429 && response.status !== 408) {
          this.logger.warn(
            { batch_id: batchId, status: response.status },
            'Callback refused; not retrying',
          );
          return;
        }
      } catch (error) {
        this.logger.debug(
          { batch_id: batchId, err: (error as Error).message },
          'Callback attempt failed',
        );
      }
      if (attempt < MAX_ATTEMPTS)
        await sleep(FIRST_DELAY_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
    this.logger.warn(
      { batch_id: batchId },
      `Callback not delivered after ${MAX_ATTEMPTS} attempts`,
    );
  }
}
