import { Body, Controller, Get, Param, Put, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AdminGuard } from '../../callers/admin.guard.js';
import { CurrentCaller } from '../../callers/request-caller.js';
import type { Caller } from '../../lib/caller.js';
import { flattenValidationErrors } from '../../http/validation.js';
import { actionIdProblem } from '../../lib/action-id.js';
import { ValidationFailedError, type FieldError } from '../../lib/domain-error.js';
import { CircuitBreaker } from '../circuit-breaker.service.js';
import type { CircuitStatus } from '../circuit-state.store.js';
import {
  CircuitChangeDto,
  CircuitDto,
  CircuitListDto,
  type CircuitChange,
} from './circuits.dto.js';

function circuitBody(status: CircuitStatus): CircuitDto {
  return {
    action_id: status.actionId,
    state: status.forced
      ? 'forced_open'
      : status.state === 'half-open'
        ? 'half_open'
        : status.state,
    consecutive_failures: status.consecutiveFailures,
    open_until:
      status.openUntil === null || status.forced ? null : new Date(status.openUntil).toISOString(),
  };
}

function parseChange(actionId: string, body: unknown): CircuitChange {
  const errors: FieldError[] = [];
  const idProblem = actionIdProblem(actionId);
  if (idProblem) errors.push({ field: 'action_id', message: idProblem });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    errors.push({ field: 'body', message: 'must be a JSON object' });
    throw new ValidationFailedError(errors);
  }
  const dto = plainToInstance(CircuitChangeDto, body);
  errors.push(
    ...flattenValidationErrors(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true })),
  );
  if (errors.length > 0) throw new ValidationFailedError(errors);
  return dto.state;
}

@ApiTags('circuits')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or wrong API key.' })
@Controller('circuits')
export class CircuitsController {
  constructor(private readonly breaker: CircuitBreaker) {}

  @Get()
  @ApiOperation({ summary: "Every action's circuit breaker, shared by every replica." })
  @ApiOkResponse({ type: CircuitListDto })
  async list(): Promise<CircuitListDto> {
    const circuits = await this.breaker.list();
    return { circuits: circuits.map(circuitBody) };
  }

  @Put(':action_id')
  @UseGuards(AdminGuard)
  @ApiOperation({
    summary: 'Force an action’s circuit open on every replica, or give it back to the breaker.',
  })
  @ApiParam({ name: 'action_id', example: 'lookup-customer' })
  @ApiBody({ type: CircuitChangeDto })
  @ApiOkResponse({ type: CircuitDto })
  @ApiResponse({ status: 400, description: 'Bad action id or state; `errors` names the field.' })
  @ApiForbiddenResponse({ description: 'The caller is not in ADMIN_CALLERS.' })
  async change(
    @Param('action_id') actionId: string,
    @Body() body: unknown,
    @CurrentCaller() caller: Caller,
  ): Promise<CircuitDto> {
    const change = parseChange(actionId, body);
    const status = await this.breaker.setForced(actionId, change === 'forced_open', caller.name);
    return circuitBody(status);
  }
}
