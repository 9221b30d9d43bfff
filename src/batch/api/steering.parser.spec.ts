import { loadConfig } from '../../config/load-config.js';
import { ValidationFailedError } from '../../lib/domain-error.js';
import { parseRedrive, parseRetune } from './steering.parser.js';

const config = loadConfig({
  CXONE_SIMULATOR: 'true',
  CXONE_API_URL: 'http://127.0.0.1:9',
  AUTH_DISABLED: 'true',
});

function fieldsOf(parse: () => unknown): string[] {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailedError);
    return (error as ValidationFailedError).details.errors!.map((e) => e.field);
  }
  throw new Error('expected a validation error');
}

describe('steering bodies', () => {
  it('reads max_workers and the redrive statuses', () => {
    expect(parseRetune({ max_workers: 8 }, config)).toBe(8);
    expect(parseRedrive({ statuses: ['failed', 'failed'] })).toEqual(['failed']);
  });

  it('refuses unknown fields by name, whatever they hold (no 500 on a constructor key)', () => {
    const body: unknown = JSON.parse('{"action_id":"x","payloads":[{"constructor":1e400},{}]}');
    expect(new Set(fieldsOf(() => parseRetune(body, config)))).toEqual(
      new Set(['action_id', 'payloads', 'max_workers']),
    );
    expect(fieldsOf(() => parseRedrive(body))).toEqual(['action_id', 'payloads']);
  });
});
