import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  ANONYMOUS_CALLER,
  ApiKeyEntryError,
  checkKeysDistinct,
  parseApiKeysFile,
  SHORT_KEY_LENGTH,
  type ApiKeyEntry,
} from '../config/api-keys.js';
import { AppConfig } from '../config/app-config.js';
import type { Caller } from '../lib/caller.js';

/** How often API_KEYS_FILE is read again: a change applies within this (the contract asks 10 s). */
export const KEY_FILE_POLL_MS = 2000;

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

interface KnownKey {
  digest: Buffer;
  caller: Caller;
}

function fingerprintOf(entries: ApiKeyEntry[]): string {
  return entries.map(({ caller, digest }) => `${caller}:${digest}`).join(',');
}

/**
 * The callers and their keys: API_KEYS, and API_KEYS_FILE re-read while the service runs (a
 * mounted secret rotated in place). Only SHA-256 digests of the keys are held; a presented key is
 * compared with every one of them with `timingSafeEqual`, so the time taken says nothing about
 * which key, or how much of one, matched. The file is polled rather than watched: `fs.watch` misses
 * the symlink swap by which Kubernetes updates a mounted secret.
 */
@Injectable()
export class CallerKeys implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Callers');
  private readonly admins: ReadonlySet<string>;
  private readonly anonymous: Caller;
  private keys: KnownKey[];
  private fileFingerprint: string;
  /** Digest of the file text last looked at, so an unchanged (or still broken) file costs one read. */
  private lastFileText: string | undefined;
  private lastReadProblem: string | undefined;
  private poller: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly config: AppConfig) {
    const { auth } = config;
    this.admins = new Set(auth.admins);
    this.anonymous = { name: ANONYMOUS_CALLER, admin: this.admins.has(ANONYMOUS_CALLER) };
    const fileEntries = auth.keysFile?.entries ?? [];
    this.keys = this.known([...auth.keys, ...fileEntries]);
    this.fileFingerprint = fingerprintOf(fileEntries);
  }

  onModuleInit(): void {
    const { auth } = this.config;
    if (auth.disabled) {
      this.logger.warn(
        '!!! AUTH_DISABLED=true: every route is open to anyone who can reach this port, as the caller "anonymous". Never run it like this in production. !!!',
      );
      return;
    }
    this.warnAbout([...auth.keys, ...(auth.keysFile?.entries ?? [])]);
    if (auth.keysFile) {
      this.poller = setInterval(() => void this.pollKeyFile(), KEY_FILE_POLL_MS).unref();
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.poller);
    await this.polling;
  }

  /** The caller a request's `Authorization` header names; undefined for a missing or unknown key. */
  identify(authorization: string | undefined): Caller | undefined {
    if (this.config.auth.disabled) return this.anonymous;
    const match = BEARER.exec(authorization ?? '');
    if (!match) return undefined;
    const presented = createHash('sha256').update(match[1]).digest();
    let found: Caller | undefined;
    // Every key is compared, matched or not: no early exit whose timing would tell which one.
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest)) found ??= key.caller;
    }
    return found;
  }

  /** Reads API_KEYS_FILE again and applies it if it changed; a bad change keeps the keys in use. */
  pollKeyFile(): Promise<void> {
    this.polling ??= this.reloadKeyFile().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async reloadKeyFile(): Promise<void> {
    const file = this.config.auth.keysFile;
    if (!file) return;
    let text: string;
    try {
      text = await readFile(file.path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      if (this.lastReadProblem !== code) {
        this.logger.error(
          `API_KEYS_FILE cannot be read: ${file.path} (${code}); keeping the previous keys`,
        );
      }
      this.lastReadProblem = code;
      this.lastFileText = undefined;
      return;
    }
    this.lastReadProblem = undefined;
    const textDigest = createHash('sha256').update(text).digest('hex');
    if (textDigest === this.lastFileText) return;
    this.lastFileText = textDigest;

    let entries: ApiKeyEntry[];
    try {
      entries = parseApiKeysFile(text);
      const all = [...this.config.auth.keys, ...entries];
      if (all.length === 0) throw new ApiKeyEntryError('keys', 'no key is left');
      checkKeysDistinct(all);
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      this.logger.error(
        `API_KEYS_FILE ${file.path} ${problem}; keeping the previous keys until it is fixed`,
      );
      return;
    }
    const fingerprint = fingerprintOf(entries);
    if (fingerprint === this.fileFingerprint) return;
    const all = [...this.config.auth.keys, ...entries];
    this.keys = this.known(all);
    this.fileFingerprint = fingerprint;
    const callers = [...new Set(all.map((entry) => entry.caller))].sort();
    this.logger.log(`API_KEYS_FILE reloaded: ${all.length} keys for callers ${callers.join(', ')}`);
    this.warnAbout(entries);
  }

  private known(entries: ApiKeyEntry[]): KnownKey[] {
    const callers = new Map<string, Caller>();
    return entries.map(({ caller, digest }) => {
      let named = callers.get(caller);
      if (!named) {
        named = { name: caller, admin: this.admins.has(caller) };
        callers.set(caller, named);
      }
      return { digest: Buffer.from(digest, 'hex'), caller: named };
    });
  }

  private warnAbout(entries: ApiKeyEntry[]): void {
    const shortKeyCallers = [...new Set(entries.filter((e) => e.short).map((e) => e.caller))];
    if (shortKeyCallers.length > 0) {
      this.logger.warn(
        `API keys shorter than ${SHORT_KEY_LENGTH} characters (easy to guess) for callers: ${shortKeyCallers.join(', ')}`,
      );
    }
    const named = new Set(this.keys.map((key) => key.caller.name));
    const unknownAdmins = [...this.admins].filter((admin) => !named.has(admin));
    if (unknownAdmins.length > 0) {
      this.logger.warn(`ADMIN_CALLERS names callers with no key: ${unknownAdmins.join(', ')}`);
    }
  }
}
