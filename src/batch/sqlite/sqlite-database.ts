import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { StartupError } from '../../lib/startup-error.js';
import { MIGRATIONS } from './sqlite-batch.schema.js';

export const DATABASE_FILE = 'orchestrator.sqlite';
/** Names the process holding the directory, for the message of a second one (the lock itself is SQLite's). */
export const PID_FILE = 'orchestrator.pid';

/** `PRAGMA application_id` of this service's databases ("CXO1"): any other file is refused. */
const APPLICATION_ID = 0x43584f31;
/** How long opening waits for a lock held by a process that is exiting (a quick restart). */
const LOCK_WAIT_MS = 1000;
/** The WAL file is cut back to this after a checkpoint, so a burst of intake leaves no huge file. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Page cache of the one connection (negative: KiB), enough for the pages every poll touches. */
const CACHE_SIZE_KIB = 16 * 1024;

/** SQLite primary result codes the store tells apart (`errcode & 0xff`). */
export const SQLITE_BUSY = 5;
const SQLITE_NOMEM = 7;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
export const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** Failures of the disk or the file, not of the statement: the store answers 503 and retries later. */
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([
  SQLITE_BUSY,
  SQLITE_NOMEM,
  SQLITE_READONLY,
  SQLITE_IOERR,
  SQLITE_CORRUPT,
  SQLITE_FULL,
  SQLITE_CANTOPEN,
]);

/** The primary SQLite result code of an error thrown by `node:sqlite`, or undefined. */
export function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | undefined)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** True when the disk or the file failed (full, read-only, I/O error, corrupt), not the SQL. */
export function isStorageUnavailable(error: unknown): boolean {
  const code = sqliteCode(error);
  if (code !== undefined) return UNAVAILABLE_CODES.has(code);
  // A statement run after close() (a call finishing past the shutdown grace).
  return error instanceof Error && /database is not open/i.test(error.message);
}

/**
 * `node:sqlite`, loaded when the sqlite store is chosen (not at import): memory and Redis mode
 * keep running on a Node.js that lacks it, and the sqlite mode says what is missing.
 */
function loadSqlite(): typeof import('node:sqlite') {
  try {
    return process.getBuiltinModule('node:sqlite');
  } catch (error) {
    throw new StartupError(
      `STORE=sqlite needs node:sqlite (Node.js 22.13 or newer, running ${process.version}); use STORE=memory or REDIS_URL`,
      { cause: error },
    );
  }
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * The sqlite store's database file in DATA_DIR, opened once per process. Everything about the
 * file lives here: creating the directory, holding it for this process alone, refusing a file
 * that is not ours, the pragmas and the schema. One connection, so statements never wait for
 * each other; `locking_mode=EXCLUSIVE` keeps SQLite's lock on the file from the first write
 * until the process ends (a `SIGKILL` releases it with the process, so a stale lock never
 * blocks a restart), and with it the WAL needs no shared-memory file.
 */
export class SqliteDatabase {
  private constructor(
    readonly connection: DatabaseSync,
    readonly dataDir: string,
    readonly file: string,
  ) {}

  /** Throws `StartupError` with one line naming DATA_DIR when the directory or file cannot be used. */
  static open(dataDir: string): SqliteDatabase {
    const { DatabaseSync } = loadSqlite();
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (error) {
      throw new StartupError(`DATA_DIR ${dataDir} cannot be created (${reason(error)})`, {
        cause: error,
      });
    }
    try {
      accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
    } catch (error) {
      throw new StartupError(`DATA_DIR ${dataDir} is not writable (${reason(error)})`, {
        cause: error,
      });
    }
    const file = join(dataDir, DATABASE_FILE);
    let connection: DatabaseSync | undefined;
    try {
      connection = new DatabaseSync(file);
      const database = new SqliteDatabase(connection, dataDir, file);
      database.configure();
      database.writePidFile();
      return database;
    } catch (error) {
      try {
        connection?.close();
      } catch {
        // already closed, or never opened
      }
      if (error instanceof StartupError) throw error;
      throw openFailure(error, dataDir, file);
    }
  }

  exec(sql: string): void {
    this.connection.exec(sql);
  }

  /** Runs `work` in one transaction: committed if it returns, rolled back if it throws. */
  transaction<T>(work: () => T): T {
    this.connection.exec('BEGIN');
    try {
      const result = work();
      this.connection.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.connection.isTransaction) this.connection.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Like `transaction`, but the commit also reaches the disk (fsync), not only the operating
   * system: what it writes survives a power cut, not only a killed process. For the few writes
   * that answer a client (a batch accepted).
   */
  durableTransaction<T>(work: () => T): T {
    this.connection.exec('PRAGMA synchronous = FULL');
    try {
      return this.transaction(work);
    } finally {
      this.connection.exec('PRAGMA synchronous = NORMAL');
    }
  }

  get isOpen(): boolean {
    return this.connection.isOpen;
  }

  /** Releases the file (and its lock) for the next process. */
  close(): void {
    if (!this.connection.isOpen) return;
    try {
      // Folds the WAL into the database file, so the next start reads one file.
      this.connection.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch {
      // A full disk may refuse the checkpoint; the WAL is read back at the next start anyway.
    }
    this.connection.close();
    rmSync(join(this.dataDir, PID_FILE), { force: true });
  }

  private configure(): void {
    const db = this.connection;
    db.exec(`PRAGMA busy_timeout = ${LOCK_WAIT_MS}`);
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    // The first read: a file that is not SQLite at all fails here (SQLITE_NOTADB), one that
    // another process holds with SQLITE_BUSY.
    const { application_id: applicationId } = db.prepare('PRAGMA application_id').get() as {
      application_id: number;
    };
    const { tables } = db
      .prepare("SELECT count(*) AS tables FROM sqlite_schema WHERE type = 'table'")
      .get() as { tables: number };
    if (applicationId !== APPLICATION_ID && (applicationId !== 0 || tables > 0)) {
      throw new StartupError(
        `DATA_DIR ${this.dataDir}: ${DATABASE_FILE} is a SQLite database of another application; move it away or choose another DATA_DIR`,
      );
    }
    const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string };
    if (mode.journal_mode !== 'wal') {
      throw new StartupError(
        `DATA_DIR ${this.dataDir}: ${DATABASE_FILE} cannot use write-ahead logging (journal mode ${mode.journal_mode})`,
      );
    }
    // WAL with NORMAL: a commit survives the process being killed at any point; only a power cut
    // may lose the last commits (batch intake commits with FULL, see durableTransaction).
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.exec(`PRAGMA cache_size = -${CACHE_SIZE_KIB}`);
    this.migrate();
    // A write takes the exclusive lock now (not at the first batch), so a second process on the
    // same directory is refused at its start.
    db.prepare(
      "INSERT INTO settings (key, value) VALUES ('owner_pid', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(String(process.pid));
  }

  private migrate(): void {
    const db = this.connection;
    const { user_version: version } = db.prepare('PRAGMA user_version').get() as {
      user_version: number;
    };
    if (version > MIGRATIONS.length) {
      throw new StartupError(
        `DATA_DIR ${this.dataDir}: ${DATABASE_FILE} was written by a newer version of this service (schema ${version}, this one knows ${MIGRATIONS.length})`,
      );
    }
    if (version === MIGRATIONS.length) return;
    this.transaction(() => {
      for (let next = version; next < MIGRATIONS.length; next++) db.exec(MIGRATIONS[next]);
      db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
      db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }

  private writePidFile(): void {
    try {
      writeFileSync(join(this.dataDir, PID_FILE), `${process.pid}\n`);
    } catch {
      // Only a courtesy for the message of a second process; the lock is SQLite's.
    }
  }
}

function openFailure(error: unknown, dataDir: string, file: string): StartupError {
  const code = sqliteCode(error);
  if (code === SQLITE_BUSY) {
    const pid = heldBy(dataDir);
    return new StartupError(
      `DATA_DIR ${dataDir} is in use by another process${pid ? ` (pid ${pid})` : ''}: one service process per data directory`,
      { cause: error },
    );
  }
  if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
    return new StartupError(
      `DATA_DIR ${dataDir}: ${DATABASE_FILE} is damaged or not a database (${reason(error)}); move it away to start with an empty store`,
      { cause: error },
    );
  }
  if (code === SQLITE_READONLY || code === SQLITE_CANTOPEN) {
    return new StartupError(`DATA_DIR ${dataDir} is not writable (${reason(error)})`, {
      cause: error,
    });
  }
  if (code === SQLITE_FULL) {
    return new StartupError(`DATA_DIR ${dataDir} has no space left (${reason(error)})`, {
      cause: error,
    });
  }
  return new StartupError(`DATA_DIR ${dataDir}: cannot open ${file} (${reason(error)})`, {
    cause: error,
  });
}

function heldBy(dataDir: string): string | undefined {
  try {
    const pid = readFileSync(join(dataDir, PID_FILE), 'utf8').trim();
    return /^\d{1,10}$/.test(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
