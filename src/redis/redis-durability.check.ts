import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ReadinessService } from '../health/readiness.service.js';
import { RedisConnection } from './redis.connection.js';

/** What Redis says about keeping data and evicting keys; undefined where it would not say. */
export interface RedisDurabilitySettings {
  appendonly?: string;
  save?: string;
  maxmemoryPolicy?: string;
}

/** The warnings these settings deserve when Redis holds the batches (empty: none). */
export function durabilityProblems(settings: RedisDurabilitySettings): string[] {
  const problems: string[] = [];
  const { appendonly, save, maxmemoryPolicy } = settings;
  if (appendonly === 'no' && save !== undefined && save.trim() === '') {
    problems.push(
      'Redis keeps nothing on disk (appendonly no, save ""): a Redis restart loses every batch; enable appendonly or save',
    );
  } else if (appendonly === undefined && save === undefined) {
    problems.push('could not read whether Redis keeps its data (CONFIG GET and INFO refused)');
  }
  if (maxmemoryPolicy === undefined) {
    problems.push('could not read maxmemory-policy (CONFIG GET and INFO refused)');
  } else if (maxmemoryPolicy !== 'noeviction') {
    problems.push(
      `Redis may evict keys under memory pressure (maxmemory-policy ${maxmemoryPolicy}): batches could vanish; set noeviction`,
    );
  }
  return problems;
}

/**
 * In Redis mode the batches live in Redis, so Redis must keep them: data on disk (AOF or RDB
 * snapshots) and no eviction. Checked at start and after every reconnect (Redis may have been
 * restarted with other settings); a problem is a warning in the log and a detail of
 * `/health/ready` (`redis_durability.warnings`), not a refusal to run.
 */
@Injectable()
export class RedisDurabilityCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger(RedisDurabilityCheck.name);
  private problems: string[] = [];
  private checked = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly readiness: ReadinessService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.readiness.register('redis_durability', async () =>
      this.checked
        ? { warnings: this.problems }
        : { warnings: ['not checked yet (Redis not reached)'] },
    );
    this.connection.client.on('ready', () => void this.check());
    if (this.connection.client.status === 'ready') await this.check();
  }

  /** Reads the settings and logs what is wrong, once per change. */
  async check(): Promise<string[]> {
    let settings: RedisDurabilitySettings;
    try {
      settings = await this.read();
    } catch (error) {
      this.logger.debug(`Redis durability not checked: ${(error as Error).message}`);
      return this.problems;
    }
    const problems = durabilityProblems(settings);
    if (problems.join('\n') !== this.problems.join('\n') || !this.checked) {
      for (const problem of problems) this.logger.warn(problem);
    }
    this.problems = problems;
    this.checked = true;
    return problems;
  }

  private async read(): Promise<RedisDurabilitySettings> {
    const redis = this.connection.client;
    const config = async (name: string): Promise<string | undefined> => {
      try {
        const reply = await redis.config('GET', name);
        return reply.length >= 2 ? reply[1] : undefined;
      } catch {
        return undefined; // CONFIG is often disabled on managed Redis: INFO below
      }
    };
    const [appendonly, save, maxmemoryPolicy] = await Promise.all([
      config('appendonly'),
      config('save'),
      config('maxmemory-policy'),
    ]);
    if (appendonly !== undefined && maxmemoryPolicy !== undefined) {
      return { appendonly, save, maxmemoryPolicy };
    }
    const info = await redis.info('persistence').then(
      (text) => text,
      () => '',
    );
    const memory = await redis.info('memory').then(
      (text) => text,
      () => '',
    );
    const field = (text: string, name: string): string | undefined =>
      new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1]?.trim();
    const aof = field(info, 'aof_enabled');
    return {
      appendonly: appendonly ?? (aof === undefined ? undefined : aof === '1' ? 'yes' : 'no'),
      save,
      maxmemoryPolicy: maxmemoryPolicy ?? field(memory, 'maxmemory_policy'),
    };
  }
}
