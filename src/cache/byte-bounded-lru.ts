/** What one entry costs, in bytes (an estimate is fine: it bounds memory, it does not measure it). */
export type SizeOf = (key: string, value: unknown) => number;

/**
 * A Map-shaped least-recently-used store bounded by entries and by bytes, for Keyv (which keeps
 * the expiry inside each value and checks it on read). cacheable's LRU counts entries only, so a
 * few large answers could fill memory; this is the little an LRU needs (a Map keeps insertion
 * order: a read moves the entry to the end, eviction takes from the front), written here rather
 * than adding a dependency for it.
 */
export class ByteBoundedLru {
  private readonly entries = new Map<string, { value: unknown; size: number }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly sizeOf: SizeOf,
  ) {}

  get(key: string): unknown {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** False when the entry alone is larger than the bound (it is not kept). */
  set(key: string, value: unknown): boolean {
    this.delete(key);
    const size = this.sizeOf(key, value);
    if (size > this.maxBytes) return false;
    this.entries.set(key, { value, size });
    this.bytes += size;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.size;
    }
    return true;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    this.bytes -= entry.size;
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The estimated bytes of every entry held now. */
  get totalBytes(): number {
    return this.bytes;
  }
}
