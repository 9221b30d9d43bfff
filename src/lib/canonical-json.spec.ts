import { canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth', () => {
    const a = { b: 2, a: { y: [1, { d: 1, c: 2 }], x: null } };
    const b = { a: { x: null, y: [1, { c: 2, d: 1 }] }, b: 2 };
    expect(canonicalJson(a)).toBe('{"a":{"x":null,"y":[1,{"c":2,"d":1}]},"b":2}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('keeps array order, which is meaningful', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('follows JSON.stringify for strings, numbers, undefined and toJSON', () => {
    const value = {
      s: 'quote " and \\ and \u2028 and é',
      n: -1.5e-7,
      inf: Number.POSITIVE_INFINITY,
      u: undefined,
      f: () => 1,
      arr: [undefined, () => 1],
      date: new Date(0),
      t: true,
    };
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
    expect(canonicalJson(value)).not.toContain('"u"');
  });

  it('is valid JSON for scalars and empty containers', () => {
    expect(canonicalJson('x')).toBe('"x"');
    expect(canonicalJson(0)).toBe('0');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
  });

  it('rejects cycles and BigInt like JSON.stringify', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
    expect(() => canonicalJson({ big: BigInt(1) })).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });
});
