import { ApiProperty } from '@nestjs/swagger';
import { IsDefined, IsIn } from 'class-validator';

export const CIRCUIT_CHANGES = ['forced_open', 'auto'] as const;
export type CircuitChange = (typeof CIRCUIT_CHANGES)[number];

/** `PUT /circuits/{action_id}` body. */
export class CircuitChangeDto {
  @ApiProperty({
    enum: CIRCUIT_CHANGES,
    description:
      '`forced_open`: no call of the action reaches CXone, on any replica, until `auto` gives it back to the breaker.',
  })
  @IsDefined({ message: 'is required' })
  @IsIn(CIRCUIT_CHANGES, { message: `must be one of ${CIRCUIT_CHANGES.join(', ')}` })
  state: CircuitChange;
}

export class CircuitDto {
  @ApiProperty({ example: 'lookup-customer' }) action_id: string;
  @ApiProperty({ enum: ['closed', 'open', 'half_open', 'forced_open'] }) state: string;
  @ApiProperty({ example: 0 }) consecutive_failures: number;
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'While open: when the next probe may go (ISO-8601).',
  })
  open_until: string | null;
}

export class CircuitListDto {
  @ApiProperty({ type: [CircuitDto] }) circuits: CircuitDto[];
}
