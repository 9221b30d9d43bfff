import type { NextFunction, Request, Response } from 'express';
import { ValidationFailedError, type FieldError } from '../lib/domain-error.js';
import { MAX_PAYLOAD_DEPTH, tooDeep } from '../lib/json-depth.js';

/** A body nests at most a payload's depth inside `payloads[i]`: two levels above it. */
export const MAX_BODY_DEPTH = MAX_PAYLOAD_DEPTH + 2;

/** Own keys that class-transformer (and any plain copy) would take for prototype members. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const NOT_DATA = 'is not allowed (the name of a prototype member)';

/**
 * The first prototype-member key of the body outside the payloads (whose contents are the
 * caller's data, sent to CXone as they are), as a dotted path. The body is at most
 * MAX_BODY_DEPTH levels deep by now.
 */
function prototypeKeyIn(body: object): string | undefined {
  const stack: { value: object; path: string }[] = [{ value: body, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: object; path: string };
    for (const key of Object.keys(value)) {
      const field = path === '' ? key : Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
      if (PROTOTYPE_KEYS.has(key)) return field;
      const child = (value as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      if (field === 'payloads') continue;
      stack.push({ value: child, path: field });
    }
  }
  return undefined;
}

/**
 * Refuses, before any route, pipe or transformer sees it, a request whose body nests too deeply
 * or whose body or query uses a prototype member's name as a key: 400 naming the field. Without
 * it class-transformer overflows its stack on a deep value, and fails on a `constructor` key, and
 * either would answer 500.
 */
export function checkRequestShape(request: Request, _response: Response, next: NextFunction): void {
  const errors: FieldError[] = [];
  const body: unknown = request.body;
  if (typeof body === 'object' && body !== null) {
    const deep = tooDeep(body, MAX_BODY_DEPTH);
    if (deep) {
      errors.push({
        field: deep.field,
        message: `must not nest objects or arrays more than ${deep.allowed} levels deep`,
      });
    } else {
      const key = prototypeKeyIn(body);
      if (key !== undefined) errors.push({ field: key, message: NOT_DATA });
    }
  }
  const query = request.query as Record<string, unknown> | undefined;
  for (const key of Object.keys(query ?? {})) {
    if (PROTOTYPE_KEYS.has(key)) errors.push({ field: key, message: NOT_DATA });
  }
  next(errors.length > 0 ? new ValidationFailedError(errors) : undefined);
}
