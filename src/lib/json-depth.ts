/**
 * Deepest nesting of objects and arrays in one payload (the payload itself is level 1). JSON.parse
 * takes any depth, but serialising, hashing or transforming a value thousands of levels deep
 * overflows the stack: such a value is refused when it arrives rather than failing later.
 */
export const MAX_PAYLOAD_DEPTH = 100;

interface Pending {
  value: object;
  depth: number;
  /** Where the value sits, named down to the third level (`payloads[3]`, `filter.a`). */
  field: string;
  /** Depth of the value `field` names. */
  fieldDepth: number;
}

function childField(parent: Pending, key: string): string {
  if (parent.depth > 2) return parent.field;
  if (parent.field === '') return key;
  return Array.isArray(parent.value) ? `${parent.field}[${key}]` : `${parent.field}.${key}`;
}

/**
 * The first place, in document order, where `root` (level 1) holds an object or array more than
 * `limit` levels down: the field (named to the third level of `root`) and how many levels that
 * field may nest itself. Iterative, so any depth is safe to look at.
 */
export function tooDeep(
  root: object,
  limit: number,
): { field: string; allowed: number } | undefined {
  const stack: Pending[] = [{ value: root, depth: 1, field: '', fieldDepth: 1 }];
  while (stack.length > 0) {
    const parent = stack.pop() as Pending;
    if (parent.depth > limit)
      return { field: parent.field, allowed: limit - parent.fieldDepth + 1 };
    const keys = Object.keys(parent.value);
    // Pushed last to first, so the first child is looked at first.
    for (let i = keys.length - 1; i >= 0; i--) {
      const child = (parent.value as Record<string, unknown>)[keys[i]];
      if (typeof child !== 'object' || child === null) continue;
      const field = childField(parent, keys[i]);
      const fieldDepth = field === parent.field ? parent.fieldDepth : parent.depth + 1;
      stack.push({ value: child, depth: parent.depth + 1, field, fieldDepth });
    }
  }
  return undefined;
}
