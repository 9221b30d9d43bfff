import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  NotContains,
} from 'class-validator';
import { ACTION_ID_PATTERN } from '../../lib/action-id.js';
import {
  DEFAULT_REDRIVE_STATUSES,
  ITEM_STATUSES,
  REDRIVABLE_STATUSES,
  type ItemStatus,
  type RedrivableStatus,
} from '../core/batch.types.js';
import { CALLER_NAME } from '../../config/api-keys.js';

const BATCH_STATUSES = ['queued', 'running', 'completed', 'cancelled', 'failed'];

/** `POST /batch/execute` body. `payloads` is checked item by item in `parseExecuteBatch` (fast for 100k items). */
export class ExecuteBatchDto {
  @ApiProperty({ example: 'lookup-customer', pattern: ACTION_ID_PATTERN.source, maxLength: 128 })
  @IsString()
  @MaxLength(128)
  @Matches(ACTION_ID_PATTERN, {
    message: 'must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ (no "/", "..", or spaces)',
  })
  @NotContains('..', { message: 'must not contain ".."' })
  action_id: string;

  @ApiProperty({
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    minItems: 1,
    maxItems: 100000,
    example: [
      { id: 'c-1', phone: '+15550100' },
      { id: 'c-2', phone: '+15550101' },
    ],
    description:
      'Up to MAX_BATCH_ITEMS JSON objects; each is sent as the body of one execute call.',
  })
  @IsArray()
  payloads: Record<string, unknown>[];

  @ApiPropertyOptional({ default: 10, minimum: 1, maximum: 1000 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  chunk_size?: number;

  @ApiPropertyOptional({
    default: 4,
    minimum: 1,
    maximum: 256,
    description:
      'Most CXone calls of this batch in flight at once (at most MAX_WORKERS_PER_BATCH).',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  max_workers?: number;

  @ApiPropertyOptional({
    default: 15000,
    minimum: 100,
    maximum: 120000,
    description: 'Per downstream call.',
  })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(120000)
  timeout_ms?: number;

  @ApiPropertyOptional({
    default: 300,
    minimum: 0,
    maximum: 86400,
    description: '0 disables result caching for this batch (use it for actions that write).',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86400)
  cache_ttl_seconds?: number;

  @ApiPropertyOptional({
    example: 'https://workflow.example.com/hooks/batch-done',
    description: 'https URL (http only for CALLBACK_ALLOWED_HOSTS), POSTed once the batch ends.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  callback_url?: string;

  @ApiPropertyOptional({
    default: 100,
    minimum: 0,
    maximum: 100,
    description:
      'Once more than this share of the items has failed, the batch stops and ends `failed`.',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  tolerated_failure_percent?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100000,
    description:
      'Once more than this many items have failed, the batch stops and ends `failed` (at most MAX_BATCH_ITEMS).',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  tolerated_failure_count?: number;
}

/** `PATCH /batch/{batch_id}` body. */
export class RetuneBatchDto {
  @ApiProperty({
    minimum: 1,
    maximum: 256,
    example: 16,
    description:
      'Most CXone calls of this batch in flight at once (at most MAX_WORKERS_PER_BATCH).',
  })
  @IsDefined({ message: 'is required' })
  @IsInt()
  @Min(1)
  max_workers: number;
}

/** `POST /batch/{batch_id}/redrive` body (optional). */
export class RedriveBatchDto {
  @ApiPropertyOptional({
    type: [String],
    enum: REDRIVABLE_STATUSES,
    default: DEFAULT_REDRIVE_STATUSES,
    description: 'The outcomes whose items run again.',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @IsIn(REDRIVABLE_STATUSES, {
    each: true,
    message: `each value must be one of ${REDRIVABLE_STATUSES.join(', ')}`,
  })
  statuses?: RedrivableStatus[];
}

export class StatusQueryDto {
  @ApiPropertyOptional({ default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ enum: ITEM_STATUSES, description: 'Empty or absent: every item.' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (value === '' ? undefined : value))
  @IsIn(ITEM_STATUSES)
  status?: ItemStatus;
}

export class ListQueryDto {
  @ApiPropertyOptional({ default: 20, minimum: 1, maximum: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;

  @ApiPropertyOptional({
    description: 'ADMIN_CALLERS only: the batches of this caller (others get 403).',
    example: 'team-billing',
  })
  @IsOptional()
  @IsString()
  @Matches(CALLER_NAME, { message: `must be a caller name (${CALLER_NAME.source})` })
  caller?: string;
}

// ---- responses (documentation only) ----

export class BatchAcceptedDto {
  @ApiProperty({ example: '6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f' }) batch_id: string;
  @ApiProperty({ example: 'queued', enum: BATCH_STATUSES })
  status: string;
  @ApiProperty({ example: '4bf92f3577b34da6a3ce929d0e0e4736' }) trace_id: string;
  @ApiProperty({ example: '/batch/6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f/status' })
  status_url: string;
}

export class SummaryDto {
  @ApiProperty({ example: 1000 }) total: number;
  @ApiProperty({ example: 950 }) successful: number;
  @ApiProperty({ example: 10 }) failed: number;
  @ApiProperty({ example: 20 }) degraded: number;
  @ApiProperty({ example: 0 }) cancelled: number;
  @ApiProperty({ example: 20 }) pending: number;
}

export class LatencyDto {
  @ApiProperty({ example: 52 }) p50: number;
  @ApiProperty({ example: 88 }) p95: number;
  @ApiProperty({ example: 240 }) max: number;
}

export class LimitsDto {
  @ApiProperty({ example: 100 }) max_workers: number;
  @ApiProperty({
    example: 18,
    description:
      "What the batch may use now: max_workers within its share of the action's adaptive concurrency limit and CXONE_TENANT_MAX_CONCURRENCY.",
  })
  effective_workers: number;
  @ApiProperty({
    nullable: true,
    type: String,
    example: null,
    description:
      "Until when new calls of the batch's action wait (CXone answered 429 with Retry-After).",
  })
  paused_until: string | null;
}

export class PaginationDto {
  @ApiProperty({ example: 0 }) offset: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 1000, description: 'Items matching the filter.' }) total: number;
}

export class ItemDto {
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'number' }], example: 'c-1' }) id:
    string | number;
  @ApiProperty({ example: 0 }) index: number;
  @ApiProperty({ enum: ITEM_STATUSES, example: 'success' }) status: ItemStatus;
  @ApiPropertyOptional({
    description: 'CXone response body (success) or the fallback served (degraded).',
  })
  data?: unknown;
  @ApiPropertyOptional({ example: false }) cached?: boolean;
  @ApiPropertyOptional({ example: 'timeout_fallback', description: 'degraded only' })
  reason?: string;
  @ApiPropertyOptional({
    example: 'Upstream answered 404: action not found',
    description: 'failed only',
  })
  error?: string;
  @ApiPropertyOptional({
    example: 'UPSTREAM_4XX',
    enum: [
      'TIMEOUT',
      'CIRCUIT_OPEN',
      'RATE_LIMITED',
      'UPSTREAM_4XX',
      'UPSTREAM_5XX',
      'AUTH_FAILED',
      'NETWORK',
      'CANCELLED',
      'RESPONSE_TOO_LARGE',
      'INTERNAL',
    ],
  })
  error_code?: string;
  @ApiPropertyOptional({ example: 1 }) attempts?: number;
  @ApiPropertyOptional({ example: 48 }) latency_ms?: number;
}

export class CallbackStateDto {
  @ApiProperty({ enum: ['pending', 'delivered', 'failed'], example: 'delivered' }) status: string;
  @ApiProperty({ example: 2, description: 'Attempts made (or under way) so far.' })
  attempts: number;
  @ApiProperty({
    nullable: true,
    type: String,
    example: 'answered 503',
    description: 'What the latest failed attempt met.',
  })
  last_error: string | null;
  @ApiProperty({ nullable: true, type: String, example: '2026-11-24T10:05:00.000Z' })
  delivered_at: string | null;
}

export class BatchStatusDto {
  @ApiProperty() batch_id: string;
  @ApiProperty({ example: 'lookup-customer' }) action_id: string;
  @ApiProperty({ enum: BATCH_STATUSES }) status: string;
  @ApiProperty({
    nullable: true,
    type: String,
    enum: ['TOLERATED_FAILURE_EXCEEDED'],
    description: 'Why the batch ended `failed`.',
  })
  failure_reason: string | null;
  @ApiProperty({ example: 'team-billing', description: 'The caller that submitted the batch.' })
  caller: string;
  @ApiProperty({ example: '4bf92f3577b34da6a3ce929d0e0e4736' }) trace_id: string;
  @ApiProperty({ example: '2026-11-24T10:00:00.000Z' }) created_at: string;
  @ApiProperty({ nullable: true, type: String }) started_at: string | null;
  @ApiProperty({ nullable: true, type: String }) finished_at: string | null;
  @ApiProperty({ example: 0.98, minimum: 0, maximum: 1 }) progress: number;
  @ApiProperty({ type: SummaryDto }) summary: SummaryDto;
  @ApiProperty({ type: LatencyDto }) latency_ms: LatencyDto;
  @ApiProperty({ type: LimitsDto }) limits: LimitsDto;
  @ApiProperty({ example: 0, description: 'Times the batch was redriven.' }) redrive_count: number;
  @ApiProperty({
    type: CallbackStateDto,
    nullable: true,
    description: 'The callback delivery; null without callback_url.',
  })
  callback: CallbackStateDto | null;
  @ApiProperty({ type: [ItemDto] }) items: ItemDto[];
  @ApiProperty({ type: PaginationDto }) pagination: PaginationDto;
}

export class BatchListEntryDto {
  @ApiProperty() batch_id: string;
  @ApiProperty() action_id: string;
  @ApiProperty({ example: 'team-billing' }) caller: string;
  @ApiProperty({ enum: BATCH_STATUSES }) status: string;
  @ApiProperty() created_at: string;
  @ApiProperty({ type: SummaryDto }) summary: SummaryDto;
}

export class BatchListDto {
  @ApiProperty({ type: [BatchListEntryDto] }) batches: BatchListEntryDto[];
  @ApiProperty({ nullable: true, type: String, example: 'MTI' }) next_cursor: string | null;
}

export class FieldErrorDto {
  @ApiProperty({ example: 'max_workers' }) field: string;
  @ApiProperty({ example: 'must not be greater than 256' }) message: string;
}

export class ProblemDto {
  @ApiProperty({ example: 'https://cxone-orchestrator.dev/problems/validation-failed' })
  type: string;
  @ApiProperty({ example: 'Bad Request' }) title: string;
  @ApiProperty({ example: 400 }) status: number;
  @ApiProperty({ example: 'max_workers: must not be greater than 256' }) detail: string;
  @ApiProperty({ example: '/batch/execute' }) instance: string;
  @ApiPropertyOptional({ example: 'VALIDATION_FAILED' }) code?: string;
  @ApiPropertyOptional({ type: [FieldErrorDto] }) errors?: FieldErrorDto[];
}
