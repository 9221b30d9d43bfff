import { Injectable } from '@nestjs/common';
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { CallbackOutbox, type ClaimResult } from '../../callback/core/callback-outbox.js';
import {
  interruptedLastAttempt,
  type AttemptVerdict,
  type CallbackState,
  type ClaimedDelivery,
  type DeliveryStatus,
} from '../../callback/core/callback.types.js';
import type { NewDelivery } from '../core/batch-callback.js';
import { SqliteDatabase } from './sqlite-database.js';

interface DeliveryRow {
  batch_id: string;
  id: string;
  url: string;
  caller: string;
  report: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  delivered_at: string | null;
}

/**
 * The outbox of the sqlite store, a table in the same file: `SqliteBatchStore` writes a batch's
 * delivery in the transaction that ends the batch, so a kill right after the end leaves it here
 * for the next start. A claim counts the attempt and makes the delivery due again only after its
 * lease, so an attempt cut short by a kill is made again after a restart, with the same id.
 */
@Injectable()
export class SqliteCallbackOutbox extends CallbackOutbox {
  private readonly statements: ReturnType<SqliteCallbackOutbox['prepare']>;

  constructor(private readonly database: SqliteDatabase) {
    super();
    this.statements = this.prepare();
  }

  /** Inside the store's transaction that ends the batch: replaces an earlier end's delivery. */
  write(delivery: NewDelivery, now: number): void {
    this.statements.put.run(
      delivery.batchId,
      delivery.id,
      delivery.url,
      delivery.caller,
      JSON.stringify(delivery.report),
      now,
      now,
    );
  }

  /** The batch is gone (retention) or runs again (redrive): so is its delivery. */
  forget(batchId: string): void {
    this.statements.forget.run(batchId);
  }

  async claimDue(
    now: number,
    leaseMs: number,
    limit: number,
    maxAttempts: number,
  ): Promise<ClaimResult> {
    const s = this.statements;
    return this.database.transaction(() => {
      const claimed: ClaimedDelivery[] = [];
      let exhausted = 0;
      for (const row of all<DeliveryRow>(s.due, now, limit)) {
        if (row.attempts >= maxAttempts) {
          s.end.run('failed', interruptedLastAttempt(row.attempts), row.batch_id, row.id);
          exhausted += 1;
          continue;
        }
        s.claim.run(now + leaseMs, row.batch_id, row.id);
        claimed.push({
          id: row.id,
          batchId: row.batch_id,
          url: row.url,
          caller: row.caller,
          report: JSON.parse(row.report) as ClaimedDelivery['report'],
          attempt: row.attempts + 1,
        });
      }
      return { claimed, exhausted };
    });
  }

  async settle(claimed: ClaimedDelivery, verdict: AttemptVerdict): Promise<boolean> {
    const s = this.statements;
    if (verdict.kind === 'delivered') {
      return s.delivered.run(verdict.at, claimed.batchId, claimed.id).changes === 1;
    }
    // A retry or a failure counts only from the latest attempt (see the port).
    if (verdict.kind === 'failed') {
      return (
        s.failed.run(verdict.error, claimed.batchId, claimed.id, claimed.attempt).changes === 1
      );
    }
    return (
      s.retry.run(
        verdict.error,
        verdict.nextAttemptAt,
        claimed.batchId,
        claimed.id,
        claimed.attempt,
      ).changes === 1
    );
  }

  async stateOf(batchId: string): Promise<CallbackState | undefined> {
    const row = this.statements.state.get(batchId) as unknown as DeliveryRow | undefined;
    if (!row) return undefined;
    return {
      status: row.status,
      attempts: row.attempts,
      lastError: row.last_error,
      deliveredAt: row.delivered_at,
    };
  }

  async pendingSummary(): Promise<{ count: number; oldestSince: number | undefined }> {
    const row = this.statements.pending.get() as unknown as {
      count: number;
      oldest: number | null;
    };
    return { count: row.count, oldestSince: row.oldest ?? undefined };
  }

  private prepare() {
    const db = this.database.connection;
    const prepare = (sql: string): StatementSync => db.prepare(sql);
    return {
      put: prepare(
        `INSERT INTO callbacks (batch_id, id, url, caller, report, due_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (batch_id) DO UPDATE SET id = excluded.id, url = excluded.url,
           caller = excluded.caller, report = excluded.report, status = 'pending', attempts = 0,
           last_error = NULL, delivered_at = NULL, due_at = excluded.due_at,
           created_at = excluded.created_at`,
      ),
      forget: prepare('DELETE FROM callbacks WHERE batch_id = ?'),
      due: prepare(
        `SELECT batch_id, id, url, caller, report, status, attempts, last_error, delivered_at
         FROM callbacks WHERE status = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?`,
      ),
      claim: prepare(
        'UPDATE callbacks SET attempts = attempts + 1, due_at = ? WHERE batch_id = ? AND id = ?',
      ),
      end: prepare(
        `UPDATE callbacks SET status = ?, last_error = ? WHERE batch_id = ? AND id = ?
           AND status = 'pending'`,
      ),
      delivered: prepare(
        `UPDATE callbacks SET status = 'delivered', delivered_at = ?
         WHERE batch_id = ? AND id = ? AND status = 'pending'`,
      ),
      failed: prepare(
        `UPDATE callbacks SET status = 'failed', last_error = ?
         WHERE batch_id = ? AND id = ? AND status = 'pending' AND attempts = ?`,
      ),
      retry: prepare(
        `UPDATE callbacks SET last_error = ?, due_at = ?
         WHERE batch_id = ? AND id = ? AND status = 'pending' AND attempts = ?`,
      ),
      state: prepare(
        'SELECT status, attempts, last_error, delivered_at FROM callbacks WHERE batch_id = ?',
      ),
      pending: prepare(
        `SELECT COUNT(*) AS count, MIN(created_at) AS oldest FROM callbacks WHERE status = 'pending'`,
      ),
    };
  }
}

function all<T>(statement: StatementSync, ...params: SQLInputValue[]): T[] {
  return statement.all(...params) as unknown as T[];
}
