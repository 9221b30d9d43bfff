/**
 * Deepest nesting of objects and arrays in one payload (the payload itself is level 1). JSON.parse
 * takes any depth, but serialising, hashing or transforming a value thousands of levels deep
 * overflows the stack: such a value is refused when it arrives rather than failing later.
 */
export const MAX_PAYLOAD_DEPTH = 100;

/** Where `tooDeep` found a value nested too deeply. */
export interface TooDeep {
  /** The field, named to the third level of the root (`payloads[3]`, `filter.a`). */
  field: string;
  /** How many levels that field may nest itself. */
  allowed: number;
}

/**
 * The first place, in document order, where `root` (level 1) holds an object or array more than
 * `limit` levels down. It recurses, but never below `limit` + 1 levels, so the stack stays as
 * shallow as the limit whatever the input; and it allocates nothing per value, so a body of
 * 100,000 payloads costs a few milliseconds.
 */
export function tooDeep(root: object, limit: number): TooDeep | undefined {
  // Keys of the first two levels below the root, to name the field if one is too deep.
  const keys: string[] = [];
  const inArray: boolean[] = [];

  const found = (depth: number): TooDeep => {
    let field = '';
    for (let level = 0; level < Math.min(keys.length, 2); level++) {
      if (level === 0) field = keys[0];
      else field += inArray[level] ? `[${keys[level]}]` : `.${keys[level]}`;
    }
    const fieldDepth = Math.min(keys.length, 2) + 1;
    return { field, allowed: limit - Math.min(fieldDepth, depth) + 1 };
  };

  const visit = (value: object, depth: number): TooDeep | undefined => {
    if (depth > limit) return found(depth);
    const named = depth <= 2;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const child: unknown = value[index];
        if (typeof child !== 'object' || child === null) continue;
        if (named) {
          keys.push(String(index));
          inArray.push(true);
        }
        const deeper = visit(child, depth + 1);
        if (deeper) return deeper;
        if (named) {
          keys.pop();
          inArray.pop();
        }
      }
      return undefined;
    }
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      if (named) {
        keys.push(key);
        inArray.push(false);
      }
      const deeper = visit(child, depth + 1);
      if (deeper) return deeper;
      if (named) {
        keys.pop();
        inArray.pop();
      }
    }
    return undefined;
  };

  return visit(root, 1);
}
