import { MAX_PAYLOAD_DEPTH, tooDeep } from './json-depth.js';

/** An object whose innermost object sits `depth` levels down (the object itself is level 1). */
function nested(depth: number): object {
  let value: object = {};
  for (let level = depth; level > 1; level--) value = level % 2 ? { k: value } : [value];
  return value;
}

describe('tooDeep', () => {
  it('accepts exactly the limit and names the first field past it, in document order', () => {
    expect(tooDeep(nested(5), 5)).toBeUndefined();
    expect(tooDeep({ a: 1, payloads: [{}, nested(3), nested(9)] }, 5)).toEqual({
      field: 'payloads[2]',
      allowed: 3,
    });
    expect(tooDeep({ filter: { deep: nested(7) } }, 5)).toEqual({
      field: 'filter.deep',
      allowed: 3,
    });
  });

  it('looks at any depth without overflowing the stack', () => {
    let value: unknown[] = [];
    for (let level = 0; level < 200_000; level++) value = [value];
    expect(tooDeep({ x: value }, MAX_PAYLOAD_DEPTH)).toEqual({
      field: 'x[0]',
      allowed: MAX_PAYLOAD_DEPTH - 2,
    });
  });

  it('reads own keys named like prototype members as plain data', () => {
    const body = JSON.parse('{"__proto__": {"constructor": {"prototype": [[[]]]}}}') as object;
    expect(tooDeep(body, 3)).toEqual({ field: '__proto__.constructor', allowed: 1 });
    expect(tooDeep(body, 10)).toBeUndefined();
  });
});
