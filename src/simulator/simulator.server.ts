import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type FaultProfile,
  type FaultProfileInput,
  type FaultProfileView,
  ZERO_FAULT_PROFILE,
  faultProfileView,
  parseFaultProfile,
} from './fault-profile.js';
import { mulberry32 } from './prng.js';
import { handleAdminRequest } from './simulator.admin.js';
import {
  JSON_TYPE,
  decodePathSegment,
  methodNotAllowed,
  notFound,
  payloadTooLarge,
  readBody,
  sendError,
  sendJson,
  sendText,
} from './simulator.http.js';
import {
  type ResolvedSimulatorOptions,
  type SimulatorOptions,
  ACCESS_KEY_TOKEN_PATH,
  TOKEN_PATH,
  checkActionId,
  resolveSimulatorOptions,
} from './simulator.options.js';
import {
  type ActionCounters,
  type CallTicket,
  type RecordedCall,
  SimulatorState,
  type SimulatorStats,
} from './simulator.state.js';
import {
  type ParsedTokenRequest,
  TokenStore,
  parseAccessKeyRequest,
  parseTokenRequest,
} from './simulator.tokens.js';
import {
  type TokenBehaviour,
  type TokenBehaviourInput,
  type TokenBehaviourView,
  defaultTokenBehaviour,
  parseTokenBehaviour,
  tokenBehaviourView,
} from './token-behaviour.js';

export type { SimulatorOptions } from './simulator.options.js';
export type { FaultProfileInput, FaultProfileView } from './fault-profile.js';
export type { TokenBehaviourInput, TokenBehaviourView } from './token-behaviour.js';
export type { RecordedCall, SimulatorStats, ActionStats } from './simulator.state.js';
export { SimulatorInputError } from './simulator.validation.js';

export interface EffectiveProfile {
  action_id: string;
  /** 'action': its own profile; 'default': the '*' profile; 'none': the zero-fault profile. */
  source: 'action' | 'default' | 'none';
  profile: FaultProfileView;
}

export interface SimulatorHandle {
  /** e.g. http://127.0.0.1:40123 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Replaces the action's profile ('*' = default for any action); throws SimulatorInputError. */
  setProfile(actionId: string, profile: FaultProfileInput): void;
  /** true when the action had a profile of its own. */
  deleteProfile(actionId: string): boolean;
  /** Every profile set, by action id (the shape SIM_PROFILES accepts). */
  profiles(): Record<string, FaultProfileView>;
  /** The profile that applies to an action. */
  profileFor(actionId: string): EffectiveProfile;
  /** Replaces the token behaviour; throws SimulatorInputError. */
  setTokenBehaviour(behaviour: TokenBehaviourInput): void;
  tokenBehaviour(): TokenBehaviourView;
  stats(): SimulatorStats;
  /** Execute calls received with this X-Request-Id (0 if none). */
  attempts(requestId: string): number;
  allAttempts(): Record<string, number>;
  /** The most recent execute calls, oldest first. */
  recentCalls(limit?: number): RecordedCall[];
  /** Clears counters, attempts, recent calls and issued tokens and reseeds the PRNG; keeps profiles and token behaviour. */
  reset(): void;
  /** Stops listening and destroys every open socket, hung calls included. */
  close(): Promise<void>;
}

const MAX_EXECUTE_BODY_BYTES = 10 * 1024 * 1024;
const MAX_ADMIN_BODY_BYTES = 64 * 1024;
const HTML_BODY = '<html>oops</html>';
const HTML_TYPE = 'text/html; charset=utf-8';
const BEARER_CHALLENGE = ['WWW-Authenticate', 'Bearer error="invalid_token"'];

export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const simulator = new CxoneSimulator(resolveSimulatorOptions(options));
  await simulator.listen();
  return simulator;
}

class CxoneSimulator implements SimulatorHandle {
  url = '';
  port = 0;

  private readonly server: Server;
  private readonly state: SimulatorState;
  private readonly tokens = new TokenStore();
  private readonly profilesById: Map<string, FaultProfile>;
  private tokenBehaviourState: TokenBehaviour = defaultTokenBehaviour();
  private random: () => number;
  /** Pending latency timers, cleared by close() so a closed simulator leaves nothing behind. */
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Bodies of simulated failures by status, built once. */
  private readonly failureBodies = new Map<number, string>();
  private readonly executePrefix: string;
  private readonly executeSuffix: string;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: ResolvedSimulatorOptions) {
    this.state = new SimulatorState(options.recentCallsLimit, options.maxRequestIds);
    this.profilesById = new Map(options.profiles);
    this.random = mulberry32(options.seed);
    this.executePrefix = options.executePrefix;
    this.executeSuffix = options.executeSuffix;
    this.server = createServer({ keepAliveTimeout: 60_000 }, this.onRequest);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
        this.url = `http://${host}:${this.port}`;
        resolve();
      });
    });
  }

  // ---- control (shared by the handle and the /__sim admin routes) ----

  setProfile(actionId: string, profile: FaultProfileInput): void {
    this.profilesById.set(checkActionId(actionId), parseFaultProfile(profile));
  }

  deleteProfile(actionId: string): boolean {
    return this.profilesById.delete(actionId);
  }

  profiles(): Record<string, FaultProfileView> {
    const result: Record<string, FaultProfileView> = {};
    for (const [id, profile] of this.profilesById) result[id] = faultProfileView(profile);
    return result;
  }

  profileFor(actionId: string): EffectiveProfile {
    const own = this.profilesById.get(actionId);
    const fallback = this.profilesById.get('*');
    const source = own ? 'action' : fallback ? 'default' : 'none';
    return {
      action_id: actionId,
      source,
      profile: faultProfileView(own ?? fallback ?? ZERO_FAULT_PROFILE),
    };
  }

  setTokenBehaviour(behaviour: TokenBehaviourInput): void {
    this.tokenBehaviourState = parseTokenBehaviour(behaviour);
  }

  tokenBehaviour(): TokenBehaviourView {
    return tokenBehaviourView(this.tokenBehaviourState, this.options.tokenLifetimeSeconds);
  }

  stats(): SimulatorStats {
    return this.state.stats();
  }

  attempts(requestId: string): number {
    return this.state.attempts(requestId);
  }

  allAttempts(): Record<string, number> {
    return this.state.allAttempts();
  }

  recentCalls(limit?: number): RecordedCall[] {
    return this.state.recentCalls(limit);
  }

  reset(): void {
    this.state.reset();
    this.tokens.clear();
    // Reseeding makes a reused simulator as reproducible as a fresh one.
    this.random = mulberry32(this.options.seed);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  // ---- HTTP ----

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const path = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);

    // The hot path first, matched with plain string checks.
    const prefix = this.executePrefix;
    const suffix = this.executeSuffix;
    if (
      path.length > prefix.length + suffix.length &&
      path.startsWith(prefix) &&
      path.endsWith(suffix)
    ) {
      const rawId = path.slice(prefix.length, path.length - suffix.length);
      if (!rawId.includes('/')) {
        if (req.method === 'POST') this.execute(req, res, rawId);
        else methodNotAllowed(res, req.method, 'POST');
        return;
      }
    }
    const query = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
    if (path === TOKEN_PATH || path === ACCESS_KEY_TOKEN_PATH) {
      if (req.method === 'POST') this.token(req, res, path === ACCESS_KEY_TOKEN_PATH);
      else methodNotAllowed(res, req.method, 'POST');
    } else if (path === '/__sim' || path.startsWith('/__sim/')) {
      handleAdminRequest(this, req, res, path, query);
    } else if (path === '/.well-known/openid-configuration') {
      if (req.method !== 'GET') return methodNotAllowed(res, req.method, 'GET');
      this.state.discoveryRequests++;
      sendJson(res, 200, {
        issuer: this.url,
        token_endpoint: `${this.url}${TOKEN_PATH}`,
        grant_types_supported: ['client_credentials', 'password'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      });
    } else if (path === '/.well-known/cxone-configuration') {
      if (req.method !== 'GET') return methodNotAllowed(res, req.method, 'GET');
      this.cxoneConfiguration(res, query);
    } else {
      notFound(res, req.method, path);
    }
  };

  private execute(req: IncomingMessage, res: ServerResponse, rawId: string): void {
    const actionId = decodePathSegment(rawId);
    if (actionId === null) {
      sendError(res, 400, 'invalid_request', 'action id is not valid percent-encoding');
      return;
    }
    const header = req.headers['x-request-id'];
    const requestId = typeof header === 'string' && header !== '' ? header : null;
    const action = this.state.action(actionId);
    // Counted before anything can fail, so every retry the client makes is visible.
    const ticket = this.state.beginCall(action, requestId, req.headers);
    res.once('close', () => this.state.endCall(action));

    const rejection = this.tokens.rejection(req.headers.authorization, Date.now());
    if (rejection !== null) {
      this.state.recordStatus(action, 401, ticket);
      sendError(res, 401, 'invalid_token', rejection, BEARER_CHALLENGE);
      return;
    }
    readBody(req, MAX_EXECUTE_BODY_BYTES, (body) => {
      if (body === null) {
        this.state.recordStatus(action, 413, ticket);
        payloadTooLarge(res, MAX_EXECUTE_BODY_BYTES);
      } else {
        this.answerExecute(res, action, requestId, ticket, body);
      }
    });
  }

  private answerExecute(
    res: ServerResponse,
    action: ActionCounters,
    requestId: string | null,
    ticket: CallTicket,
    body: string,
  ): void {
    try {
      JSON.parse(body);
    } catch {
      this.state.recordStatus(action, 400, ticket);
      sendError(res, 400, 'invalid_request', 'body must be JSON');
      return;
    }
    const p =
      this.profilesById.get(action.actionId) ?? this.profilesById.get('*') ?? ZERO_FAULT_PROFILE;

    // The tenant's capacity comes first, as a gateway in front of the action refuses before the
    // action runs: the rate, then the concurrency.
    if (p.maxPerSecond !== null && !action.startWithin(p.maxPerSecond, Date.now())) {
      this.state.recordRefusal(action, 'per_second');
      return this.fail(res, action, ticket, 429, ['Retry-After', retryAfter(p)]);
    }
    if (p.maxInFlight !== null && action.admitted >= p.maxInFlight) {
      this.state.recordRefusal(action, 'in_flight');
      return this.fail(res, action, ticket, 429);
    }
    action.admitted++;
    res.once('close', () => action.admitted--);

    if (p.hangRate > 0 && this.random() < p.hangRate) {
      // Never answered: the socket stays open until the client gives up or close().
      action.hangs++;
      return;
    }
    if (p.failFirst !== null && ticket.attempt <= p.failFirst.attempts) {
      return this.fail(res, action, ticket, p.failFirst.status);
    }
    if (p.rateLimitRate > 0 && this.random() < p.rateLimitRate) {
      return this.fail(res, action, ticket, 429, ['Retry-After', retryAfter(p)]);
    }
    if (p.errorRate > 0 && this.random() < p.errorRate) {
      return this.fail(res, action, ticket, p.errorStatus);
    }
    if (p.nonJsonRate > 0 && this.random() < p.nonJsonRate) {
      this.state.recordStatus(action, p.nonJsonStatus, ticket);
      sendText(res, p.nonJsonStatus, HTML_TYPE, HTML_BODY);
      return;
    }

    // The payload was just parsed, so it is echoed verbatim instead of re-serialised.
    const requestIdJson = requestId === null ? 'null' : JSON.stringify(requestId);
    const answer = `{"action_id":${action.idJson},"request_id":${requestIdJson},"data":${body}}`;
    const delay = p.jitterMs > 0 ? p.latencyMs + this.random() * p.jitterMs : p.latencyMs;
    if (delay <= 0) {
      this.state.recordStatus(action, 200, ticket);
      sendText(res, 200, JSON_TYPE, answer);
      return;
    }
    this.later(delay, () => {
      if (res.destroyed) return;
      this.state.recordStatus(action, 200, ticket);
      sendText(res, 200, JSON_TYPE, answer);
    });
  }

  private fail(
    res: ServerResponse,
    action: ActionCounters,
    ticket: CallTicket,
    status: number,
    headers?: readonly string[],
  ): void {
    let body = this.failureBodies.get(status);
    if (body === undefined) {
      body = JSON.stringify({ error: 'simulated', message: `simulated ${status}` });
      this.failureBodies.set(status, body);
    }
    this.state.recordStatus(action, status, ticket);
    sendText(res, status, JSON_TYPE, body, headers);
  }

  /**
   * Both token endpoints: the OAuth one (form body) and NICE's access-key one (JSON body, and
   * `resource_server_base_uri` pointing here in its answer). They share the token behaviour:
   * lifetime, injected failures, omitted fields and latency.
   */
  private token(req: IncomingMessage, res: ServerResponse, accessKey: boolean): void {
    readBody(req, MAX_ADMIN_BODY_BYTES, (body) => {
      this.state.tokenRequests++;
      if (body === null) {
        this.state.tokenFailures++;
        payloadTooLarge(res, MAX_ADMIN_BODY_BYTES);
        return;
      }
      const { summary, verdict }: ParsedTokenRequest = accessKey
        ? parseAccessKeyRequest(req.headers['content-type'], body, this.options)
        : parseTokenRequest(
            req.headers['content-type'],
            req.headers.authorization,
            body,
            this.options,
          );
      this.state.lastTokenRequest = {
        grant_type: summary.grantType,
        scope: summary.scope,
        client_auth: summary.clientAuth,
      };
      const behaviour = this.tokenBehaviourState;
      let injectedFailure = false;
      if (behaviour.failNext > 0) {
        behaviour.failNext--;
        injectedFailure = true;
      } else if (behaviour.failRate > 0 && this.random() < behaviour.failRate) {
        injectedFailure = true;
      }

      const answer = (): void => {
        if (res.destroyed) return;
        const noStore = ['Cache-Control', 'no-store', 'Pragma', 'no-cache'];
        if (injectedFailure) {
          this.state.tokenFailures++;
          const status = behaviour.failStatus;
          sendJson(res, status, { error: 'simulated', message: `simulated ${status}` }, noStore);
          return;
        }
        if (!verdict.ok) {
          this.state.tokenFailures++;
          const challenge =
            verdict.status === 401 && verdict.basicChallenge
              ? ['WWW-Authenticate', 'Basic realm="cxone-simulator"']
              : [];
          sendJson(
            res,
            verdict.status,
            { error: verdict.error, error_description: verdict.description },
            [...noStore, ...challenge],
          );
          return;
        }
        const lifetime = behaviour.lifetimeSeconds ?? this.options.tokenLifetimeSeconds;
        const answerBody: Record<string, unknown> = {};
        if (!behaviour.omitAccessToken) {
          answerBody.access_token = this.tokens.issue(lifetime, Date.now());
        }
        answerBody.token_type = 'bearer';
        if (!behaviour.omitExpiresIn) answerBody.expires_in = lifetime;
        if (verdict.scope !== null) answerBody.scope = verdict.scope;
        // As CXone writes it: with a trailing slash.
        if (accessKey && !behaviour.omitResourceServerBaseUri)
          answerBody.resource_server_base_uri = `${this.url}/`;
        sendJson(res, 200, answerBody, noStore);
      };
      if (behaviour.latencyMs > 0) this.later(behaviour.latencyMs, answer);
      else answer();
    });
  }

  private cxoneConfiguration(res: ServerResponse, query: string): void {
    this.state.discoveryRequests++;
    const tenantId = new URLSearchParams(query).get('tenantId');
    if (tenantId === null || tenantId === '') {
      sendError(res, 400, 'invalid_request', 'tenantId query parameter is required');
    } else if (tenantId.toLowerCase() !== this.options.tenant.toLowerCase()) {
      sendError(res, 404, 'unknown_tenant', `tenant ${tenantId} is not known here`);
    } else {
      sendJson(res, 200, { api_endpoint: this.url, tenantId });
    }
  }

  private later(delayMs: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delayMs);
    this.timers.add(timer);
  }
}

function retryAfter(profile: FaultProfile): string {
  if (profile.retryAfterFormat === 'seconds') return String(profile.retryAfterSeconds);
  // HTTP dates have whole seconds: round up so the client never waits less than asked.
  const at = Math.ceil(Date.now() / 1000) * 1000 + profile.retryAfterSeconds * 1000;
  return new Date(at).toUTCString();
}
