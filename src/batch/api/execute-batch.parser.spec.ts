import { ValidationFailedError } from '../../lib/domain-error.js';
import { loadConfig } from '../../config/load-config.js';
import { MAX_PAYLOAD_DEPTH, parseExecuteBatch } from './execute-batch.parser.js';

const config = loadConfig({ CXONE_SIMULATOR: 'true', CXONE_TENANT: 'acme', AUTH_DISABLED: 'true' });

/** A payload whose deepest value sits `depth` levels down (the payload itself is level 1). */
function nested(depth: number): Record<string, unknown> {
  let value: unknown = 'leaf';
  for (let level = depth; level > 1; level--) value = level % 2 ? { k: value } : [value];
  return { k: value };
}

describe('parseExecuteBatch: payload depth', () => {
  it(`accepts a payload ${MAX_PAYLOAD_DEPTH} levels deep and refuses one level more, naming it`, () => {
    expect(
      parseExecuteBatch({ action_id: 'a', payloads: [nested(MAX_PAYLOAD_DEPTH)] }, config).payloads,
    ).toHaveLength(1);
    let refused: unknown;
    try {
      parseExecuteBatch({ action_id: 'a', payloads: [{}, nested(MAX_PAYLOAD_DEPTH + 1)] }, config);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ValidationFailedError);
    expect((refused as ValidationFailedError).details.errors).toEqual([
      {
        field: 'payloads[1]',
        message: `must not nest objects or arrays more than ${MAX_PAYLOAD_DEPTH} levels deep`,
      },
    ]);
  });
});
