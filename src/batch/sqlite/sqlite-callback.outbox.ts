import { Injectable } from '@nestjs/common';
import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { DomainError } from '../../lib/domain-error.js';
import { CallbackOutbox, type ClaimResult } from '../../callback/core/callback-outbox.js';
import {
  interruptedLastAttempt,
  type AttemptVerdict,
  type CallbackReport,
  type CallbackState,
  type ClaimedDelivery,
  type DeliveryStatus,
} from '../../callback/core/callback.types.js';
import { isStorageUnavailable, SqliteDatabase } from './sqlite-database.js';

interface DueRow {
  batch_id: string;
  id: string;
  url: string;
  caller: string;
  report: string;
  attempts: number;
}

interface StateRow {
  id: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  delivered_at: string | null;
}

/**
 * The callback outbox of the sqlite store: the `callbacks` table, written by `SqliteBatchStore`
 * in the transaction that ends a batch, in the same file. Claims and verdicts are short
 * transactions; a claim's lease is its `due_at_ms`, so after a crash the next start attempts the
 * delivery again once the lease of the attempt cut short has passed, with the same id.
 */
@Injectable()
export class SqliteCallbackOutbox extends CallbackOutbox {
  private readonly statements: ReturnType<SqliteCallbackOutbox['prepareStatements']>;

  constructor(private readonly database: SqliteDatabase) {
    super();
    this.statements = this.prepareStatements();
  }

  async claimDue(
    now: number,
    leaseMs: number,
    limit: number,
    maxAttempts: number,
  ): Promise<ClaimResult> {
    const s = this.statements;
    return this.guard(() =>
      this.database.transaction(() => {
        const claimed: ClaimedDelivery[] = [];
        let exhausted = 0;
        for (const row of all<DueRow>(s.due, now, limit)) {
          if (row.attempts >= maxAttempts) {
            s.fail.run(interruptedLastAttempt(row.attempts), row.batch_id);
            exhausted += 1;
            continue;
          }
          s.claim.run(now + leaseMs, row.batch_id);
          claimed.push({
            id: row.id,
            batchId: row.batch_id,
            url: row.url,
            caller: row.caller,
            report: JSON.parse(row.report) as CallbackReport,
            attempt: row.attempts + 1,
          });
        }
        return { claimed, exhausted };
      }),
    );
  }

  async settle(delivery: ClaimedDelivery, verdict: AttemptVerdict): Promise<boolean> {
    const s = this.statements;
    return this.guard(() =>
      this.database.transaction(() => {
        const row = s.state.get(delivery.batchId) as StateRow | undefined;
        if (!row || row.id !== delivery.id || row.status !== 'pending') return false;
        if (verdict.kind === 'delivered') {
          s.deliver.run(verdict.at, delivery.batchId);
          return true;
        }
        if (row.attempts !== delivery.attempt) return false;
        if (verdict.kind === 'failed') s.fail.run(verdict.error, delivery.batchId);
        else s.retry.run(verdict.error, verdict.nextAttemptAt, delivery.batchId);
        return true;
      }),
    );
  }

  async stateOf(batchId: string): Promise<CallbackState | undefined> {
    const row = this.guard(() => this.statements.state.get(batchId) as StateRow | undefined);
    if (!row) return undefined;
    return {
      status: row.status,
      attempts: row.attempts,
      lastError: row.last_error,
      deliveredAt: row.delivered_at,
    };
  }

  async pendingSummary(): Promise<{ count: number; oldestSince: number | undefined }> {
    const row = this.guard(
      () => this.statements.pending.get() as { count: number; oldest: number | null },
    );
    return { count: row.count, oldestSince: row.oldest ?? undefined };
  }

  /** As the batch store's calls: a failing disk (or a closed file) answers NOT_READY. */
  private guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      if (!isStorageUnavailable(error)) throw error;
      const unavailable = new DomainError(
        'NOT_READY',
        'The callback outbox cannot use its data directory (DATA_DIR); retry shortly.',
        { retryAfterSeconds: 5 },
      );
      unavailable.cause = error;
      throw unavailable;
    }
  }

  private prepareStatements() {
    const db = this.database.connection;
    const prepare = (sql: string): StatementSync => db.prepare(sql);
    return {
      due: prepare(
        `SELECT batch_id, id, url, caller, report, attempts FROM callbacks
         WHERE status = 'pending' AND due_at_ms <= ? ORDER BY due_at_ms LIMIT ?`,
      ),
      claim: prepare(
        'UPDATE callbacks SET attempts = attempts + 1, due_at_ms = ? WHERE batch_id = ?',
      ),
      retry: prepare('UPDATE callbacks SET last_error = ?, due_at_ms = ? WHERE batch_id = ?'),
      fail: prepare(`UPDATE callbacks SET status = 'failed', last_error = ? WHERE batch_id = ?`),
      deliver: prepare(
        `UPDATE callbacks SET status = 'delivered', delivered_at = ? WHERE batch_id = ?`,
      ),
      state: prepare(
        'SELECT id, status, attempts, last_error, delivered_at FROM callbacks WHERE batch_id = ?',
      ),
      pending: prepare(
        `SELECT COUNT(*) AS count, MIN(created_at_ms) AS oldest FROM callbacks
         WHERE status = 'pending'`,
      ),
    };
  }
}

function all<T>(statement: StatementSync, ...params: SQLInputValue[]): T[] {
  return statement.all(...params) as unknown as T[];
}
