/**
 * The sqlite store's schema, as migrations: `MIGRATIONS[n]` takes a database from version n to
 * n + 1 (`PRAGMA user_version`), all of them in one transaction at start. Change the schema by
 * appending a migration (`ALTER TABLE batches ADD COLUMN …`), never by editing one that shipped.
 *
 * | table         | one row per                  | holds                                                  |
 * | ------------- | ---------------------------- | ------------------------------------------------------ |
 * | `batches`     | batch                        | `doc` (the immutable part of BatchMeta as JSON), the   |
 * |               |                              | status, timestamps, summary counters, `latency_max`,   |
 * |               |                              | `caller`, and what steering changes: `max_workers`     |
 * |               |                              | (PATCH), `failure_reason`, `redrive_count`             |
 * | `items`       | item                         | status, own id, payload (until it succeeds), outcome   |
 * | `latency`     | batch and histogram bucket   | how many calls of the batch fell in that bucket        |
 * | `idempotency` | Idempotency-Key (its sha256) | the batch it created and the hash of its body          |
 * | `settings`    | key                          | the owner pid (a write at start takes the file's lock) |
 * | `callbacks`   | batch with a callback_url    | its delivery once the batch ended (the outbox): id,    |
 * |               |                              | report, state, when it is due for an attempt           |
 *
 * A batch's `status` is its BatchStatus, or `intake` while its items are being written (a crash
 * then leaves it unaccepted, removed at the next start) or `deleting` while retention removes it
 * in small steps: neither is visible. In a cancelled batch, an item still `pending` reads as
 * cancelled (cancelling writes the counters, not one row per item); so does one in a batch ended
 * `failed` by its failure tolerance.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    total INTEGER NOT NULL,
    successful INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    degraded INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL,
    latency_max REAL NOT NULL DEFAULT 0
  );
  CREATE INDEX batches_by_finish ON batches (finished_at) WHERE finished_at IS NOT NULL;
  CREATE INDEX batches_unfinished ON batches (seq) WHERE finished_at IS NULL;
  CREATE INDEX batches_by_status ON batches (status) WHERE status IN ('intake', 'deleting');

  CREATE TABLE items (
    batch_seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    own_id TEXT,
    payload TEXT,
    outcome TEXT,
    PRIMARY KEY (batch_seq, idx)
  ) WITHOUT ROWID;
  CREATE INDEX items_by_status ON items (batch_seq, status, idx);

  CREATE TABLE latency (
    batch_seq INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (batch_seq, bucket)
  ) WITHOUT ROWID;

  CREATE TABLE idempotency (
    key_hash TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    claimed_at_ms INTEGER NOT NULL
  );
  CREATE INDEX idempotency_by_batch ON idempotency (batch_id);

  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  `
  ALTER TABLE batches ADD COLUMN caller TEXT NOT NULL DEFAULT 'default';
  ALTER TABLE batches ADD COLUMN max_workers INTEGER;
  ALTER TABLE batches ADD COLUMN failure_reason TEXT;
  ALTER TABLE batches ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX batches_by_caller ON batches (caller, seq);
  `,
  `
  CREATE TABLE callbacks (
    batch_id TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    caller TEXT NOT NULL,
    report TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT,
    due_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX callbacks_due ON callbacks (due_at) WHERE status = 'pending';
  `,
];
