import { connect, type Socket } from 'node:net';

type Reply = string | number | null | Reply[];

const COMMAND_TIMEOUT_MS = 3000;
const MAX_SCAN_ROUNDS = 100_000;
const DELETE_BATCH = 500;

/**
 * A few Redis commands over RESP, enough to check that Redis answers and to remove the
 * benchmark's own keys afterwards. The service's Redis client is not the bench's business.
 */
export class RedisProbe {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
      this.drain();
    });
    const fail = (error: Error): void => {
      for (const waiter of this.pending.splice(0)) waiter.reject(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('Redis connection closed')));
  }

  static connect(host: string, port: number, timeoutMs = 1000): Promise<RedisProbe> {
    if (host !== '127.0.0.1') throw new Error('the benchmark only uses Redis at 127.0.0.1');
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RedisProbe(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  command(...args: string[]): Promise<Reply> {
    let wire = `*${args.length}\r\n`;
    for (const arg of args) wire += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Redis ${args[0]} got no answer in ${COMMAND_TIMEOUT_MS} ms`)),
        COMMAND_TIMEOUT_MS,
      );
      this.pending.push({
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.socket.write(wire);
    });
  }

  /** Every key starting with `prefix` (SCAN, never KEYS). */
  async keysWithPrefix(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    for (let round = 0; round < MAX_SCAN_ROUNDS; round++) {
      const reply = await this.command(
        'SCAN',
        cursor,
        'MATCH',
        `${escapeGlob(prefix)}*`,
        'COUNT',
        '1000',
      );
      if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
        throw new Error('unexpected SCAN reply');
      }
      cursor = String(reply[0]);
      for (const key of reply[1]) if (typeof key === 'string') keys.push(key);
      if (cursor === '0') return keys;
    }
    throw new Error(`SCAN of ${prefix}* did not finish in ${MAX_SCAN_ROUNDS} rounds`);
  }

  /** Deletes the keys under `prefix` only (no FLUSHALL, ever); returns how many there were. */
  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.keysWithPrefix(prefix);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      await this.command('DEL', ...keys.slice(i, i + DELETE_BATCH));
    }
    return keys.length;
  }

  close(): void {
    this.socket.destroy();
  }

  private drain(): void {
    for (;;) {
      const parsed = parseReply(this.buffer, 0);
      if (parsed === undefined) return;
      this.buffer = this.buffer.subarray(parsed.next);
      const waiter = this.pending.shift();
      if (!waiter) continue;
      if (parsed.error !== undefined) waiter.reject(new Error(`Redis: ${parsed.error}`));
      else waiter.resolve(parsed.reply);
    }
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

interface Parsed {
  reply: Reply;
  error?: string;
  next: number;
}

/** Parses one RESP2 reply starting at `at`; undefined when the buffer does not hold all of it yet. */
function parseReply(buffer: Buffer, at: number): Parsed | undefined {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[at]);
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { reply: line, next };
    case '-':
      return { reply: null, error: line, next };
    case ':':
      return { reply: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, next };
      const items: Reply[] = [];
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, position);
        if (item === undefined) return undefined;
        items.push(item.reply);
        position = item.next;
      }
      return { reply: items, next: position };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}
