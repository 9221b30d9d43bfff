/**
 * JSON with object keys sorted at every depth, so two payloads that differ only in key
 * order serialise identically (the result-cache key, and the body sent to CXone).
 * Otherwise it follows JSON.stringify: `undefined`, functions and symbols are dropped from
 * objects and become `null` in arrays, non-finite numbers become `null`, `toJSON` is honoured.
 * Throws a TypeError on a cycle or a BigInt, like JSON.stringify.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, []);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

function write(value: unknown, ancestors: object[]): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('BigInt has no JSON representation');
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return write((value as { toJSON(): unknown }).toJSON(), ancestors);
  }
  if (ancestors.includes(value)) throw new TypeError('cyclic value has no JSON representation');
  ancestors.push(value);
  let text: string;
  if (Array.isArray(value)) {
    text = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ',';
      text += write(value[i], ancestors) ?? 'null';
    }
    text += ']';
  } else {
    const record = value as Record<string, unknown>;
    const keys = sortedKeys(record);
    text = '{';
    let first = true;
    for (const key of keys) {
      const item = write(record[key], ancestors);
      if (item === undefined) continue;
      text += first ? JSON.stringify(key) + ':' + item : ',' + JSON.stringify(key) + ':' + item;
      first = false;
    }
    text += '}';
  }
  ancestors.pop();
  return text;
}

/** Object.keys sorted; payloads often arrive sorted already, and checking is cheaper than sorting. */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) return keys.sort();
  }
  return keys;
}
