import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CallerRateLimit } from '../../callers/caller-rate-limit.guard.js';
import { CurrentCaller } from '../../callers/request-caller.js';
import type { Caller } from '../../lib/caller.js';
import { ValidationFailedError } from '../../lib/domain-error.js';
import type { TraceContext } from '../../lib/trace-context.js';
import { RequestTrace } from '../../http/request-trace.decorator.js';
import {
  BatchAcceptedDto,
  BatchListDto,
  BatchStatusDto,
  ExecuteBatchDto,
  ListQueryDto,
  ProblemDto,
  RedriveBatchDto,
  RetuneBatchDto,
  StatusQueryDto,
} from './batch.dto.js';
import { AppConfig } from '../../config/app-config.js';
import { parseExecuteBatch } from './execute-batch.parser.js';
import { parseRedrive, parseRetune } from './steering.parser.js';
import { acceptedBody, listEntryBody, statusBody, statusUrlOf } from './batch.presenter.js';
import { BatchService, type BatchView } from '../core/batch.service.js';

const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const POLL_HINT_SECONDS = '1';

function requireBatchId(batchId: string): string {
  if (!BATCH_ID.test(batchId)) {
    throw new ValidationFailedError([
      { field: 'batch_id', message: 'must be a batch id (a lowercase UUID)' },
    ]);
  }
  return batchId;
}

function setPollHint(response: Response, view: BatchView): void {
  if (view.meta.finishedAt === null) response.setHeader('Retry-After', POLL_HINT_SECONDS);
}

@ApiTags('batches')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ type: ProblemDto, description: 'Missing or wrong API key.' })
@ApiTooManyRequestsResponse({
  type: ProblemDto,
  description:
    'CALLER_RATE_LIMIT, CALLER_MAX_QUEUED_ITEMS or the service intake passed; see Retry-After.',
})
@ApiResponse({
  status: 400,
  type: ProblemDto,
  description: 'Malformed request; `errors` names the fields.',
})
@Controller('batch')
@UseGuards(CallerRateLimit)
export class BatchController {
  constructor(
    private readonly batches: BatchService,
    private readonly config: AppConfig,
  ) {}

  @Post('execute')
  @HttpCode(202)
  @ApiOperation({ summary: 'Submit a batch; it runs in the background.' })
  @ApiBody({ type: ExecuteBatchDto })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Same key and body: the same batch (200).',
  })
  @ApiHeader({
    name: 'traceparent',
    required: false,
    description: 'W3C trace context; the batch joins that trace.',
  })
  @ApiAcceptedResponse({
    type: BatchAcceptedDto,
    description: 'Accepted; `Location` is the status URL.',
  })
  @ApiOkResponse({
    type: BatchAcceptedDto,
    description: 'Idempotent replay: the batch made earlier.',
  })
  @ApiPayloadTooLargeResponse({ type: ProblemDto, description: 'Body over MAX_BODY_BYTES.' })
  @ApiResponse({ status: 415, type: ProblemDto, description: 'Body is not application/json.' })
  @ApiUnprocessableEntityResponse({
    type: ProblemDto,
    description: 'Idempotency-Key reused with another body.',
  })
  @ApiServiceUnavailableResponse({
    type: ProblemDto,
    description: 'Not ready (store unreachable).',
  })
  async execute(
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @RequestTrace() trace: TraceContext,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchAcceptedDto> {
    if (
      idempotencyKey !== undefined &&
      (idempotencyKey.length === 0 || idempotencyKey.length > 255)
    ) {
      throw new ValidationFailedError([
        { field: 'Idempotency-Key', message: 'must be 1 to 255 characters' },
      ]);
    }
    const parsed = parseExecuteBatch(body, this.config);
    const { meta, created } = await this.batches.submit(
      parsed,
      body,
      trace,
      caller,
      idempotencyKey,
    );
    response.status(created ? 202 : 200).setHeader('Location', statusUrlOf(meta.batchId));
    return acceptedBody(meta);
  }

  @Get(':batch_id/status')
  @ApiOperation({ summary: 'Poll a batch: summary, latency and one page of items in input order.' })
  @ApiParam({ name: 'batch_id', example: '6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f' })
  @ApiOkResponse({
    type: BatchStatusDto,
    description: 'While the batch runs, `Retry-After` hints when to poll again.',
  })
  @ApiNotFoundResponse({
    type: ProblemDto,
    description: "Unknown batch, past its retention, or another caller's.",
  })
  async status(
    @Param('batch_id') batchId: string,
    @Query() query: StatusQueryDto,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchStatusDto> {
    const view = await this.batches.status(
      requireBatchId(batchId),
      caller,
      query.offset ?? 0,
      query.limit ?? 50,
      query.status,
    );
    setPollHint(response, view);
    return statusBody(view);
  }

  @Post(':batch_id/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Stop scheduling; calls in flight finish; pending items become cancelled.',
  })
  @ApiParam({ name: 'batch_id', example: '6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f' })
  @ApiOkResponse({ type: BatchStatusDto })
  @ApiNotFoundResponse({
    type: ProblemDto,
    description: "Unknown batch, past its retention, or another caller's.",
  })
  @ApiConflictResponse({ type: ProblemDto, description: 'The batch has already finished.' })
  async cancel(
    @Param('batch_id') batchId: string,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchStatusDto> {
    const view = await this.batches.cancel(requireBatchId(batchId), caller);
    setPollHint(response, view);
    return statusBody(view);
  }

  @Patch(':batch_id')
  @ApiOperation({
    summary: 'Retune a queued or running batch: the replica running it applies it within 1 s.',
  })
  @ApiParam({ name: 'batch_id', example: '6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f' })
  @ApiBody({ type: RetuneBatchDto })
  @ApiOkResponse({ type: BatchStatusDto })
  @ApiNotFoundResponse({ type: ProblemDto })
  @ApiConflictResponse({ type: ProblemDto, description: 'The batch has already finished.' })
  async retune(
    @Param('batch_id') batchId: string,
    @Body() body: unknown,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchStatusDto> {
    const id = requireBatchId(batchId);
    const view = await this.batches.retune(id, parseRetune(body, this.config), caller);
    setPollHint(response, view);
    return statusBody(view);
  }

  @Post(':batch_id/redrive')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Run the items of a finished batch with the given outcomes again, under the same batch id.',
  })
  @ApiParam({ name: 'batch_id', example: '6f1c2d4e-8a9b-4c3d-9e8f-0a1b2c3d4e5f' })
  @ApiBody({ type: RedriveBatchDto, required: false })
  @ApiAcceptedResponse({
    type: BatchStatusDto,
    description: 'Queued again; `Location` is the status URL.',
  })
  @ApiNotFoundResponse({ type: ProblemDto })
  @ApiConflictResponse({
    type: ProblemDto,
    description: 'The batch has not finished, or no item has one of the statuses.',
  })
  async redrive(
    @Param('batch_id') batchId: string,
    @Body() body: unknown,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) response: Response,
  ): Promise<BatchStatusDto> {
    const id = requireBatchId(batchId);
    const view = await this.batches.redrive(id, parseRedrive(body), caller);
    response.setHeader('Location', statusUrlOf(id));
    setPollHint(response, view);
    return statusBody(view);
  }

  @Get()
  @ApiOperation({
    summary: "The caller's recent batches, newest first (every caller's for ADMIN_CALLERS).",
  })
  @ApiOkResponse({ type: BatchListDto })
  @ApiForbiddenResponse({
    type: ProblemDto,
    description: '`caller` given by a caller not in ADMIN_CALLERS.',
  })
  async list(@Query() query: ListQueryDto, @CurrentCaller() caller: Caller): Promise<BatchListDto> {
    const { batches, nextCursor } = await this.batches.list(
      caller,
      query.limit ?? 20,
      query.cursor,
      query.caller,
    );
    return { batches: batches.map(listEntryBody), next_cursor: nextCursor };
  }
}
