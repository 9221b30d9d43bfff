import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { payloads } from './helpers/api.js';
import {
  freePort,
  serviceApi,
  startService,
  type ServiceProcess,
} from './helpers/service-process.js';

// deploy/: every kustomization rendered by `kubectl kustomize` (what a platform engineer runs),
// every object checked against the Kubernetes API schema (kubernetes-models; the Prometheus
// Operator's kinds by @kubernetes-models/prometheus-operator), the fields that keep the service
// up checked one by one, and the alerts' and dashboard's queries against GET /metrics of a
// running service.

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [field: string]: any;
}

const KUSTOMIZATIONS = [
  'base',
  'overlays/redis',
  'overlays/sqlite',
  'overlays/monitoring',
  'overlays/simulator',
];
/** The orchestrator runs two or more replicas in all of them but sqlite (one process, one file). */
const SINGLE_REPLICA = new Set(['overlays/sqlite']);
const PRESTOP_PAUSE_SECONDS = 5;

/**
 * Metrics the alerts and the dashboard name that this build's /metrics does not serve yet.
 * Remove a name from here once the service serves it.
 */
const METRICS_BEING_ADDED = new Set<string>([]);
/** Not the service's: Prometheus's own `up` and kube-state-metrics' Deployment status. */
const METRICS_OF_OTHERS = new Set(['up', 'kube_deployment_status_replicas_available']);

function render(kustomization: string): K8sObject[] {
  // Newer kustomize warns on stderr about `bases`, kept for the one in Debian's kubectl.
  const yaml = execFileSync('kubectl', ['kustomize', join('deploy', kustomization)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseYaml(yaml);
}

function parseYaml(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

/** The kubernetes-models class of an object's apiVersion and kind. */
async function modelOf(object: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const { apiVersion, kind } = object;
  const module = apiVersion.startsWith('monitoring.coreos.com/')
    ? await import(`@kubernetes-models/prometheus-operator/${apiVersion}`)
    : await import(`kubernetes-models/${apiVersion}`);
  const model = (module as Record<string, unknown>)[kind];
  if (typeof model !== 'function') throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model as new (data: unknown) => { validate(): void };
}

const find = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in ${objects.map((o) => o.kind).join(', ')}`);
  return found;
};

const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels[key] === value);

const rendered = new Map<string, K8sObject[]>();
beforeAll(() => {
  for (const kustomization of KUSTOMIZATIONS) rendered.set(kustomization, render(kustomization));
}, 60000);

/** The orchestrator's Deployment, its ConfigMap (as referenced) and its pod template. */
function orchestrator(kustomization: string) {
  const objects = rendered.get(kustomization)!;
  const deployment = find(objects, 'Deployment', 'cxone-orchestrator');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: { name: string }) => c.name === 'orchestrator');
  const configMapName = container.envFrom.find((source: any) => source.configMapRef)?.configMapRef
    .name;
  const configMap = find(objects, 'ConfigMap', configMapName);
  return { objects, deployment, pod, container, env: configMap.data as Record<string, string> };
}

describe.each(KUSTOMIZATIONS)('deploy/%s', (kustomization) => {
  it('renders only objects valid against the Kubernetes API schema', async () => {
    const objects = rendered.get(kustomization)!;
    expect(objects.length).toBeGreaterThan(5);
    for (const object of objects) {
      const Model = await modelOf(object);
      expect(() => new Model(object).validate()).not.toThrow();
    }
  });

  it('probes the health routes on the service’s port, with requests and limits', () => {
    const { container, env } = orchestrator(kustomization);
    const portNamed = (name: string): number =>
      container.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(portNamed(container.readinessProbe.httpGet.port)).toBe(Number(env.PORT));
    expect(portNamed(container.livenessProbe.httpGet.port)).toBe(Number(env.PORT));
    expect(portNamed('metrics')).toBe(Number(env.METRICS_PORT));
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind]).toEqual({
        cpu: expect.any(String),
        memory: expect.any(String),
      });
    }
  });

  it('runs as non-root on a read-only root, writing only to volumes at DATA_DIR and /tmp', () => {
    const { pod, container, env } = orchestrator(kustomization);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(env.DATA_DIR).toBe('/app/data');
    for (const path of [env.DATA_DIR, '/tmp']) {
      const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === path);
      expect(mount).toBeDefined();
      expect(mount.readOnly).not.toBe(true);
      const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
      expect(volume.emptyDir ?? volume.persistentVolumeClaim).toBeDefined();
    }
  });

  it('gives a stopping pod more time than its preStop pause and SHUTDOWN_GRACE_SECONDS', () => {
    const { pod, container, env } = orchestrator(kustomization);
    expect(container.lifecycle.preStop.exec.command).toEqual([
      'sleep',
      String(PRESTOP_PAUSE_SECONDS),
    ]);
    expect(Number(env.SHUTDOWN_GRACE_SECONDS)).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      PRESTOP_PAUSE_SECONDS + Number(env.SHUTDOWN_GRACE_SECONDS),
    );
  });

  it('reads its settings from the generated ConfigMap and the Secret of the template', () => {
    const { container, env } = orchestrator(kustomization);
    const template = parseYaml(readFileSync('deploy/base/secret.template.yaml', 'utf8'))[0];
    expect(container.envFrom).toEqual([
      { secretRef: { name: template.metadata.name } },
      { configMapRef: { name: expect.stringMatching(/^cxone-orchestrator/) } },
    ]);
    // The service accepts the ConfigMap's values (a bad one would stop its start), with what the
    // Secret and the user add: the tenant is left empty for them.
    const secrets = {
      API_KEYS: 'a-caller-key',
      CXONE_CLIENT_ID: 'id',
      CXONE_CLIENT_SECRET: 'x',
      REDIS_URL: 'redis://redis:6379',
    };
    const settings = Object.entries(env).filter(([, value]) => value !== '');
    expect(() =>
      loadConfig({ ...secrets, CXONE_TENANT: 'example', ...Object.fromEntries(settings) }),
    ).not.toThrow();
  });

  it('lets its Service, PodDisruptionBudget, autoscaler and NetworkPolicy select its pods', () => {
    const { objects, deployment, pod } = orchestrator(kustomization);
    const podLabels = deployment.spec.template.metadata.labels;
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    const service = find(objects, 'Service', 'cxone-orchestrator');
    expect(selects(service.spec.selector, podLabels)).toBe(true);
    const containerPorts = pod.containers[0].ports.map((p: { name: string }) => p.name);
    for (const port of service.spec.ports) expect(containerPorts).toContain(port.targetPort);
    const policy = find(objects, 'NetworkPolicy', 'cxone-orchestrator');
    expect(selects(policy.spec.podSelector.matchLabels, podLabels)).toBe(true);

    const budget = find(objects, 'PodDisruptionBudget', 'cxone-orchestrator');
    expect(selects(budget.spec.selector.matchLabels, podLabels)).toBe(true);
    const autoscaler = find(objects, 'HorizontalPodAutoscaler', 'cxone-orchestrator');
    expect(autoscaler.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    if (SINGLE_REPLICA.has(kustomization)) {
      expect(deployment.spec.replicas).toBe(1);
      expect(autoscaler.spec.maxReplicas).toBe(1);
      expect(budget.spec.minAvailable).toBeUndefined();
      expect(budget.spec.maxUnavailable).toBe(1);
    } else {
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
      expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(budget.spec.minAvailable).toBeLessThan(autoscaler.spec.minReplicas);
    }
  });
});

describe('deploy/overlays', () => {
  it('redis: Redis mode against a redis-server that keeps its data and never evicts', () => {
    for (const overlay of ['overlays/redis', 'overlays/monitoring', 'overlays/simulator']) {
      const { objects, env } = orchestrator(overlay);
      const redis = find(objects, 'StatefulSet', 'cxone-orchestrator-redis');
      const command = redis.spec.template.spec.containers[0].command.join(' ');
      expect(command).toContain('--appendonly yes');
      expect(command).toContain('--maxmemory-policy noeviction');
      expect(redis.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
      const service = find(objects, 'Service', 'cxone-orchestrator-redis');
      expect(selects(service.spec.selector, redis.spec.template.metadata.labels)).toBe(true);
      expect(new URL(env.REDIS_URL).hostname).toBe(service.metadata.name);
      expect(env.STORE).toBe('redis');
    }
  });

  it('sqlite: one replica, Recreate, STORE=sqlite with DATA_DIR on a PersistentVolumeClaim', () => {
    const { objects, deployment, pod, container, env } = orchestrator('overlays/sqlite');
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(env.STORE).toBe('sqlite');
    expect(env.REDIS_URL).toBe('');
    const mount = container.volumeMounts.find(
      (m: { mountPath: string }) => m.mountPath === env.DATA_DIR,
    );
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.emptyDir).toBeUndefined();
    find(objects, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
    expect(objects.some((o) => o.kind === 'StatefulSet')).toBe(false);
  });

  it('monitoring: a ServiceMonitor on the metrics port, the alerts, a dashboard for Grafana', () => {
    const objects = rendered.get('overlays/monitoring')!;
    const service = find(objects, 'Service', 'cxone-orchestrator');
    const monitor = find(objects, 'ServiceMonitor', 'cxone-orchestrator');
    expect(selects(monitor.spec.selector.matchLabels, service.metadata.labels!)).toBe(true);
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: 'metrics', path: '/metrics' }),
    ]);
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain('metrics');

    const alerts = alertRules();
    expect(alerts.map((rule) => rule.alert).sort()).toEqual([
      'CxoneOrchestratorCallbackPending',
      'CxoneOrchestratorCircuitOpen',
      'CxoneOrchestratorItemErrorRatioHigh',
      'CxoneOrchestratorNoReadyReplica',
      'CxoneOrchestratorQueueNearLimit',
      'CxoneOrchestratorQueueStalled',
    ]);
    for (const rule of alerts) {
      expect(rule.for).toMatch(/^\d+m$/);
      expect(['warning', 'critical']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
    }

    const dashboard = find(objects, 'ConfigMap', 'cxone-orchestrator-dashboard');
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(dashboardQueries().length).toBeGreaterThan(15);
  });

  it('the Secret template names every secret key and holds no value', () => {
    const [template] = parseYaml(readFileSync('deploy/base/secret.template.yaml', 'utf8'));
    expect(Object.keys(template.stringData)).toEqual(
      expect.arrayContaining(['API_KEYS', 'CXONE_CLIENT_ID', 'CXONE_CLIENT_SECRET', 'REDIS_URL']),
    );
    expect(Object.values(template.stringData).every((value) => value === '')).toBe(true);
    expect(template.data).toBeUndefined();
    for (const objects of rendered.values()) {
      expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    }
  });
});

function alertRules(): {
  alert: string;
  expr: string;
  for: string;
  labels: any;
  annotations: any;
}[] {
  const rule = find(rendered.get('overlays/monitoring')!, 'PrometheusRule', 'cxone-orchestrator');
  return rule.spec.groups.flatMap((group: { rules: unknown[] }) => group.rules);
}

/** Every query of the dashboard, Grafana's variables given values so that they parse. */
function dashboardQueries(): string[] {
  const objects = rendered.get('overlays/monitoring')!;
  const dashboard = JSON.parse(
    find(objects, 'ConfigMap', 'cxone-orchestrator-dashboard').data['cxone-orchestrator.json'],
  );
  const panels = (list: any[]): any[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const queries: string[] = panels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target: { expr: string }) => target.expr),
  );
  for (const variable of dashboard.templating.list) {
    const labelValues = /^label_values\((\w+),\s*\w+\)$/.exec(variable.definition ?? '');
    if (labelValues) queries.push(labelValues[1]);
  }
  return queries.map((query) =>
    query.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', 'default'),
  );
}

/** The metric names a PromQL expression selects; throws on a syntax error. */
function metricNames(expression: string): string[] {
  const tree = promqlParser.parse(expression);
  const names: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`not valid PromQL at ${node.from}: ${expression}`);
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier) names.push(expression.slice(identifier.from, identifier.to));
    },
  });
  return names;
}

describe('the alerts and the dashboard against GET /metrics of the service', () => {
  let sim: SimulatorHandle;
  let service: ServiceProcess;
  let dataDir: string;
  let exposition = '';

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 20 });
    sim.setProfile('deploy-ok', { latency_ms: 1 });
    sim.setProfile('deploy-broken', { error_rate: 1, error_status: 503 });
    dataDir = mkdtempSync(join(tmpdir(), 'cxo-deploy-'));
    const metricsPort = await freePort();
    // The base's ConfigMap, on free ports (startService picks PORT), the memory store and the
    // simulator.
    const { PORT: _, ...env } = orchestrator('base').env;
    service = await startService({
      ...env,
      METRICS_PORT: String(metricsPort),
      STORE: 'memory',
      DATA_DIR: dataDir,
      CXONE_API_URL: sim.url,
      CXONE_MAX_RETRIES: '1',
      CIRCUIT_FAILURE_THRESHOLD: '2',
    });
    // Something of every kind the metrics count: successes, retries, failures, an open circuit.
    const api = serviceApi(service.url);
    for (const [action, count] of [
      ['deploy-ok', 5],
      ['deploy-broken', 4],
    ] as const) {
      const accepted = await api.post('/batch/execute', {
        action_id: action,
        payloads: payloads(count),
        max_workers: 1,
        cache_ttl_seconds: 0,
      });
      expect(accepted.status).toBe(202);
      await api.waitForEnd(accepted.body.batch_id);
    }
    // METRICS_PORT keeps /metrics off the API port (docs/api.md, Operations); a build that does
    // not know it yet serves /metrics on PORT.
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() =>
      fetch(`${service.url}/metrics`),
    );
    expect(response.status).toBe(200);
    exposition = await response.text();
  }, 60000);

  afterAll(async () => {
    await service?.kill();
    await sim?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const exported = (): Set<string> =>
    new Set(
      exposition
        .split('\n')
        .map((line) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1])
        .filter((name): name is string => name !== undefined),
    );

  it('the metrics run: the circuit opened and retries were counted', () => {
    const names = exported();
    expect(names).toContain('cxone_circuit_state');
    expect(names).toContain('cxone_call_retries_total');
    expect(exposition).toMatch(/cxone_circuit_state\{[^}]*action="deploy-broken"[^}]*\} 2/);
  });

  it.each([
    ['alert', () => alertRules().map((rule) => rule.expr)],
    ['dashboard', dashboardQueries],
  ])('every %s query is valid PromQL naming metrics the service exports', (_, queries) => {
    const names = exported();
    const unknown = queries()
      .flatMap(metricNames)
      .filter(
        (name) =>
          !names.has(name) && !METRICS_BEING_ADDED.has(name) && !METRICS_OF_OTHERS.has(name),
      );
    expect(unknown).toEqual([]);
  });
});
