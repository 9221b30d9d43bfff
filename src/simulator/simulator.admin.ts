import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  decodePathSegment,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  readBody,
  sendError,
  sendJson,
} from './simulator.http.js';
import type { SimulatorHandle } from './simulator.server.js';
import { SimulatorInputError } from './simulator.validation.js';

const MAX_BODY_BYTES = 64 * 1024;

/**
 * The /__sim routes: an HTTP face on the SimulatorHandle, so a simulator in another
 * process (npm run sim, the benchmark) is driven exactly as one started in a test.
 */
export function handleAdminRequest(
  sim: SimulatorHandle,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string,
): void {
  const route = path.slice('/__sim/'.length);
  const slash = route.indexOf('/');
  const resource = slash < 0 ? route : route.slice(0, slash);
  const rawId = slash < 0 ? null : route.slice(slash + 1);
  const id = rawId === null ? null : decodePathSegment(rawId);
  if (rawId !== null && (id === null || id === '')) {
    sendError(res, 400, 'invalid_request', 'the id in the path is empty or badly encoded');
    return;
  }
  const method = req.method;

  switch (resource) {
    case 'profiles':
      if (id === null) {
        if (method !== 'GET') return methodNotAllowed(res, method, 'GET');
        return sendJson(res, 200, sim.profiles());
      }
      if (method === 'GET') return sendJson(res, 200, sim.profileFor(id));
      if (method === 'DELETE') {
        return sendJson(res, 200, { action_id: id, deleted: sim.deleteProfile(id) });
      }
      if (method === 'PUT') {
        return withJsonBody(req, res, 'invalid_profile', (body) => {
          sim.setProfile(id, body as never);
          sendJson(res, 200, { action_id: id, profile: sim.profiles()[id] });
        });
      }
      return methodNotAllowed(res, method, 'GET, PUT, DELETE');

    case 'token':
      if (id !== null) break;
      if (method === 'GET') return sendJson(res, 200, sim.tokenBehaviour());
      if (method === 'PUT') {
        return withJsonBody(req, res, 'invalid_token_behaviour', (body) => {
          sim.setTokenBehaviour(body as never);
          sendJson(res, 200, sim.tokenBehaviour());
        });
      }
      return methodNotAllowed(res, method, 'GET, PUT');

    case 'stats':
      if (id !== null) break;
      if (method !== 'GET') return methodNotAllowed(res, method, 'GET');
      return sendJson(res, 200, sim.stats());

    case 'attempts':
      if (method !== 'GET') return methodNotAllowed(res, method, 'GET');
      if (id === null) return sendJson(res, 200, sim.allAttempts());
      return sendJson(res, 200, { request_id: id, attempts: sim.attempts(id) });

    case 'calls': {
      if (id !== null) break;
      if (method !== 'GET') return methodNotAllowed(res, method, 'GET');
      const limitText = new URLSearchParams(query).get('limit');
      const limit = limitText === null ? undefined : Number(limitText);
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
        return sendJson(res, 400, {
          error: 'invalid_request',
          field: 'limit',
          message: `limit must be a non-negative integer (got ${JSON.stringify(limitText)})`,
        });
      }
      return sendJson(res, 200, { calls: sim.recentCalls(limit) });
    }

    case 'reset':
      if (id !== null) break;
      if (method !== 'POST') return methodNotAllowed(res, method, 'POST');
      sim.reset();
      return sendJson(res, 200, { reset: true });
  }
  notFound(res, method, path);
}

/** Parses a JSON body and runs `apply`; a SimulatorInputError becomes a 400 naming the field. */
function withJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  errorCode: string,
  apply: (body: unknown) => void,
): void {
  readBody(req, MAX_BODY_BYTES, (text) => {
    if (text === null) return payloadTooLarge(res, MAX_BODY_BYTES);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return sendJson(res, 400, {
        error: errorCode,
        field: null,
        message: 'body is not valid JSON',
      });
    }
    try {
      apply(body);
    } catch (error) {
      if (!(error instanceof SimulatorInputError)) throw error;
      sendJson(res, 400, { error: errorCode, field: error.field, message: error.message });
    }
  });
}
