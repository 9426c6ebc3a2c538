import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { loadApiConfig } from '@imagegen/api';
import { JOB_CATALOG } from '@imagegen/contracts';
import { loadDispatcherConfig, startDispatcher, type RunningDispatcher } from '@imagegen/dispatcher';
import { BullGenerationQueue, connectRedis, createConsumer, Keys, type Redis } from '@imagegen/jobs';
import { loadWorkerConfig, WORKER_CLOSE_MARGIN_MS } from '@imagegen/worker';

import { FIXTURE_MODEL, startStack, type TestStack } from '../support/stack.js';
import {
  exportedNames,
  K8S,
  kustomizeVersion,
  metricNames,
  readObjects,
  render,
  ROOT,
  selects,
  validateObject,
  type K8sObject,
  type LabelSelector,
} from './manifests.js';

/**
 * infra/: the Kubernetes overlays rendered by kustomize and validated against the Kubernetes and KEDA
 * schemas, their invariants checked against the real services (config parsers, live probes, live
 * /metrics, the keys a live BullMQ queue uses), and every query of the Grafana dashboard, the alert
 * rules and the KEDA Prometheus trigger checked against the metrics the services really export.
 */

const OVERLAYS = ['cpu', 'gpu'] as const;
type Overlay = (typeof OVERLAYS)[number];

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
}
interface Workload {
  selector?: LabelSelector;
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}
interface ScaledObjectSpec {
  scaleTargetRef: { name: string };
  minReplicaCount?: number;
  maxReplicaCount?: number;
  advanced?: {
    scalingModifiers?: { formula: string; target: string };
    horizontalPodAutoscalerConfig?: { behavior?: { scaleDown?: { stabilizationWindowSeconds?: number } } };
  };
  triggers: {
    type: string;
    name?: string;
    metadata: Record<string, string>;
    authenticationRef?: { name: string };
  }[];
}
interface NetworkPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}
interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: string[];
  egress?: { to?: NetworkPeer[] }[];
}

/** An object's spec as the checks read it (the schemas validated its shape). */
function spec(o: K8sObject, kind: 'Workload'): Workload;
function spec(o: K8sObject, kind: 'ScaledObject'): ScaledObjectSpec;
function spec(o: K8sObject, kind: 'NetworkPolicy'): NetworkPolicySpec;
function spec(o: K8sObject, kind: string): unknown {
  if (kind === 'Workload' ? !['Deployment', 'Job'].includes(o.kind) : o.kind !== kind) {
    throw new Error(`${o.kind}/${o.metadata.name} is not a ${kind}`);
  }
  return o.spec;
}
const named = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered objects`);
  return o;
};
const deployments = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment');
const podOf = (o: K8sObject) => spec(o, 'Workload').template;

/** The Secrets an operator creates (kept out of the kustomizations), with their placeholder values. */
const exampleSecrets = readObjects(`${K8S}/secrets.example.yaml`);

/**
 * What a container's environment holds once Kubernetes resolved it: its ConfigMaps and Secrets
 * (envFrom, the example Secrets' placeholders), then its own `env` values, which win.
 */
function containerEnv(objects: K8sObject[], c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, named(objects, 'ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, named(exampleSecrets, 'Secret', from.secretRef.name).stringData);
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

/** The model directory lives on the cluster's volume; the config parsers check against the fixture. */
const localModel = (env: Record<string, string>) => ({ ...env, MODEL_DIR: FIXTURE_MODEL });

const kustomize = kustomizeVersion();
const rendered = new Map<Overlay, K8sObject[]>();
let stack: TestStack;
let dispatcher: RunningDispatcher;
let live: Record<'api' | 'worker' | 'dispatcher', string>;
let liveNames: Set<string>;

beforeAll(async () => {
  if ('version' in kustomize) for (const o of OVERLAYS) rendered.set(o, render(`${K8S}/overlays/${o}`));
  stack = await startStack({ workers: 1 });
  dispatcher = await startDispatcher(loadDispatcherConfig(stack.env));
  live = {
    api: stack.base,
    worker: `http://127.0.0.1:${stack.workers[0]!.port}`,
    dispatcher: `http://127.0.0.1:${dispatcher.port}`,
  };
  liveNames = new Set<string>();
  for (const base of Object.values(live)) {
    const res = await fetch(`${base}/metrics`);
    expect(res.status, `${base}/metrics`).toBe(200);
    for (const n of exportedNames(await res.text())) liveNames.add(n);
  }
});

afterAll(async () => {
  await dispatcher.close();
  await stack.stop();
});

const objectsOf = (overlay: Overlay): K8sObject[] => {
  if ('missing' in kustomize) throw new Error(kustomize.missing);
  return rendered.get(overlay)!;
};

describe.each(OVERLAYS)('infra/k8s overlay %s', (overlay) => {
  it('renders with kubectl kustomize into objects that all pass the Kubernetes and KEDA schemas', async () => {
    const objects = objectsOf(overlay);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of ['Deployment', 'Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']) {
      expect(kinds).toContain(k);
    }
    for (const k of [
      'ScaledObject',
      'TriggerAuthentication',
      'NetworkPolicy',
      'PersistentVolumeClaim',
      'Job',
    ]) {
      expect(kinds).toContain(k);
    }
    for (const o of objects) {
      await validateObject(o);
      if (o.kind !== 'Namespace')
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('imagegen');
    }
    // The schemas do check: a grace period that is not a number is refused.
    const worker = structuredClone(named(objects, 'Deployment', 'imagegen-worker'));
    (podOf(worker).spec as unknown as Record<string, unknown>)['terminationGracePeriodSeconds'] = 'long';
    await expect(validateObject(worker)).rejects.toThrow(/terminationGracePeriodSeconds must be integer/);
  });

  it('parses every container environment with the real config loaders', () => {
    const objects = objectsOf(overlay);
    const load = { api: loadApiConfig, worker: loadWorkerConfig, dispatcher: loadDispatcherConfig };
    for (const d of deployments(objects)) {
      const component = podOf(d).metadata.labels['app.kubernetes.io/component'] as keyof typeof load;
      const env = containerEnv(objects, podOf(d).spec.containers[0]!);
      expect(() => load[component](localModel(env)), d.metadata.name).not.toThrow();
    }
  });

  it('lets a stopped worker finish its longest job and close before the pod is killed', () => {
    const objects = objectsOf(overlay);
    const worker = named(objects, 'Deployment', 'imagegen-worker');
    const config = loadWorkerConfig(localModel(containerEnv(objects, podOf(worker).spec.containers[0]!)));
    const graceMs = (podOf(worker).spec.terminationGracePeriodSeconds ?? 30) * 1000;
    // On SIGTERM the worker waits WORKER_SHUTDOWN_MS for its running job, then closes within
    // WORKER_CLOSE_MARGIN_MS: the grace period must cover both, and the wait must cover the longest
    // attempt (JOB_TIMEOUT_MS, then ENGINE_ABORT_GRACE_MS for the engine to give it up).
    expect(config.WORKER_SHUTDOWN_MS).toBeGreaterThanOrEqual(
      config.JOB_TIMEOUT_MS + config.ENGINE_ABORT_GRACE_MS,
    );
    expect(graceMs).toBeGreaterThanOrEqual(config.WORKER_SHUTDOWN_MS + WORKER_CLOSE_MARGIN_MS);
    // The dispatcher's in-flight deliveries end within WEBHOOK_TIMEOUT_MS.
    const d = named(objects, 'Deployment', 'imagegen-dispatcher');
    const dc = loadDispatcherConfig(containerEnv(objects, podOf(d).spec.containers[0]!));
    expect((podOf(d).spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(dc.WEBHOOK_TIMEOUT_MS);
  });

  it('probes ports the processes listen on, at paths the live services answer', async () => {
    const objects = objectsOf(overlay);
    const portVar = { api: 'PORT', worker: 'WORKER_PORT', dispatcher: 'DISPATCHER_PORT' } as const;
    for (const d of deployments(objects)) {
      const component = podOf(d).metadata.labels['app.kubernetes.io/component'] as keyof typeof portVar;
      const c = podOf(d).spec.containers[0]!;
      const env = containerEnv(objects, c);
      const probes = [c.startupProbe, c.livenessProbe, c.readinessProbe];
      for (const probe of probes) {
        expect(probe, `${d.metadata.name} has startup, liveness and readiness probes`).toBeDefined();
        const port = c.ports?.find((p) => p.name === probe!.httpGet.port);
        expect(port?.containerPort, `${d.metadata.name} probe port`).toBe(Number(env[portVar[component]]));
        const res = await fetch(`${live[component]}${probe!.httpGet.path}`);
        expect(res.status, `${component} ${probe!.httpGet.path}`).toBe(200);
      }
      expect(c.readinessProbe!.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe!.httpGet.path).toBe('/healthz');
    }
    // Loading a model may take minutes before the worker is ready: its start-up probe allows 5 or more.
    const w = podOf(named(objects, 'Deployment', 'imagegen-worker')).spec.containers[0]!.startupProbe!;
    expect((w.periodSeconds ?? 10) * (w.failureThreshold ?? 3)).toBeGreaterThanOrEqual(300);
  });

  it('matches every selector to the pods it means, and each workload has one autoscaler', () => {
    const objects = objectsOf(overlay);
    const pods = deployments(objects).map((d) => ({
      name: d.metadata.name,
      labels: podOf(d).metadata.labels,
    }));
    for (const d of deployments(objects))
      expect(selects(spec(d, 'Workload').selector!, podOf(d).metadata.labels)).toBe(true);
    const job = named(objects, 'Job', 'imagegen-model-load');
    for (const o of objects) {
      const s = o.spec;
      if (o.kind === 'Service') {
        const sel = { matchLabels: s!['selector'] as Record<string, string> };
        expect(
          pods.filter((p) => selects(sel, p.labels)).map((p) => p.name),
          `Service ${o.metadata.name}`,
        ).toEqual([o.metadata.name]);
      }
      if (o.kind === 'PodDisruptionBudget') {
        const sel = s!['selector'] as LabelSelector;
        expect(
          pods.filter((p) => selects(sel, p.labels)).map((p) => p.name),
          `PDB ${o.metadata.name}`,
        ).toEqual([o.metadata.name]);
        expect(selects(sel, podOf(job).metadata.labels)).toBe(false);
      }
      if (o.kind === 'NetworkPolicy') {
        const sel = spec(o, 'NetworkPolicy').podSelector;
        expect(
          pods.some((p) => selects(sel, p.labels)),
          `NetworkPolicy ${o.metadata.name} selects a pod`,
        ).toBe(true);
      }
    }
    const hpa = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    const scaled = objects.filter((o) => o.kind === 'ScaledObject');
    const targets = [
      ...hpa.map((o) => (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name),
      ...scaled.map((o) => spec(o, 'ScaledObject').scaleTargetRef.name),
    ];
    expect(targets.sort()).toEqual(['imagegen-api', 'imagegen-worker']);
    // Nothing else sets a replica count those autoscalers own.
    for (const name of targets)
      expect(named(objects, 'Deployment', name).spec).not.toHaveProperty('replicas');
  });

  it('lets workers reach only Redis, the object store and DNS', () => {
    const objects = objectsOf(overlay);
    const labels = podOf(named(objects, 'Deployment', 'imagegen-worker')).metadata.labels;
    const policies = objects
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => spec(o, 'NetworkPolicy'))
      .filter((p) => selects(p.podSelector, labels));
    expect(policies.some((p) => p.policyTypes.includes('Egress') && (p.egress ?? []).length === 0)).toBe(
      true,
    );
    const peers = policies.flatMap((p) => (p.egress ?? []).map((rule) => rule.to ?? []));
    expect(
      peers.every((to) => to.length > 0),
      'an egress rule without `to` allows everything',
    ).toBe(true);
    const reached = new Set<string>();
    for (const peer of peers.flat()) {
      expect(peer.ipBlock, 'no address ranges').toBeUndefined();
      const l = peer.podSelector?.matchLabels ?? {};
      reached.add(l['app.kubernetes.io/name'] ?? l['k8s-app'] ?? JSON.stringify(peer));
    }
    expect([...reached].sort()).toEqual(['kube-dns', 'minio', 'redis']);
  });

  it('mounts the model volume read-only where MODEL_DIR points, filled by the model Job', () => {
    const objects = objectsOf(overlay);
    const pod = podOf(named(objects, 'Deployment', 'imagegen-worker')).spec;
    const volume = pod.volumes?.find((v) => v.persistentVolumeClaim?.claimName === 'imagegen-models');
    expect(volume?.persistentVolumeClaim?.readOnly).toBe(true);
    named(objects, 'PersistentVolumeClaim', 'imagegen-models');
    const modelDir = containerEnv(objects, pod.containers[0]!)['MODEL_DIR']!;
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const mount = c.volumeMounts?.find((m) => m.name === volume!.name);
      expect(mount?.readOnly, `${c.name} mounts the models read-only`).toBe(true);
      expect(modelDir.startsWith(`${mount!.mountPath}/`)).toBe(true);
    }
    expect(containerEnv(objects, pod.initContainers![0]!)['MODEL_DIR']).toBe(modelDir);
    const job = podOf(named(objects, 'Job', 'imagegen-model-load')).spec;
    expect(job.volumes?.[0]?.persistentVolumeClaim?.claimName).toBe('imagegen-models');
    // The Job writes where the workers read: the same path below each one's mount of the volume.
    const target = containerEnv(objects, job.containers[0]!)['TARGET']!;
    const jobMount = job.containers[0]!.volumeMounts![0]!;
    const workerMount = pod.containers[0]!.volumeMounts!.find((m) => m.name === volume!.name)!;
    expect(jobMount.readOnly).toBeFalsy();
    expect(target.slice(jobMount.mountPath.length)).toBe(modelDir.slice(workerMount.mountPath.length));
  });

  it('gives every container requests and limits, and reads only Secrets the example defines', () => {
    const objects = objectsOf(overlay);
    const pods = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job').map((o) => podOf(o).spec);
    for (const c of pods.flatMap((p) => [...p.containers, ...(p.initContainers ?? [])])) {
      for (const r of ['cpu', 'memory']) {
        expect(c.resources?.requests?.[r], `${c.name} requests ${r}`).toBeDefined();
        expect(c.resources?.limits?.[r], `${c.name} limits ${r}`).toBeDefined();
      }
      for (const from of c.envFrom ?? [])
        if (from.secretRef) named(exampleSecrets, 'Secret', from.secretRef.name);
    }
    for (const auth of objects.filter((o) => o.kind === 'TriggerAuthentication')) {
      for (const ref of (auth.spec as { secretTargetRef: { name: string; key: string }[] }).secretTargetRef) {
        expect(named(exampleSecrets, 'Secret', ref.name).stringData).toHaveProperty(ref.key);
      }
    }
  });

  it(
    overlay === 'gpu'
      ? 'runs one worker per NVIDIA GPU on GPU nodes, with the CUDA provider'
      : 'runs CPU workers that ask for no GPU',
    () => {
      const objects = objectsOf(overlay);
      const pod = podOf(named(objects, 'Deployment', 'imagegen-worker')).spec;
      const c = pod.containers[0]!;
      const config = loadWorkerConfig(localModel(containerEnv(objects, c)));
      expect(config.WORKER_CONCURRENCY).toBe(1);
      if (overlay === 'gpu') {
        expect(c.resources?.limits?.['nvidia.com/gpu']).toBe(1);
        expect(config.ORT_PROVIDER).toBe('cuda');
        expect(config.ORT_DEVICE_ID).toBe(0);
        expect(pod.runtimeClassName).toBe('nvidia');
        expect(Object.keys(pod.nodeSelector ?? {}).length).toBeGreaterThan(0);
        expect(pod.tolerations).toContainEqual(
          expect.objectContaining({ key: 'nvidia.com/gpu', operator: 'Exists' }),
        );
      } else {
        expect(c.resources?.limits).not.toHaveProperty('nvidia.com/gpu');
        expect(config.ORT_PROVIDER).toBe('cpu');
      }
    },
  );
});

describe('KEDA scaling on queue depth', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = connectRedis(stack.redis.url, 'worker');
  });
  afterAll(async () => {
    await redis.quit();
  });

  /** Every list or sorted set in Redis that holds this member, with its type. */
  async function keysHolding(member: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const members =
          type === 'list'
            ? await redis.lrange(key, 0, -1)
            : type === 'zset'
              ? await redis.zrange(key, 0, -1)
              : [];
        if (members.includes(member)) found.push(key);
      }
    } while (cursor !== '0');
    return found;
  }

  it.each(OVERLAYS)(
    '%s: sums the Redis keys a live BullMQ queue keeps its waiting, prioritized and running jobs in',
    async (overlay) => {
      const objects = objectsOf(overlay);
      const prefix = named(objects, 'ConfigMap', 'imagegen-config').data!['REDIS_PREFIX']!;
      const so = spec(named(objects, 'ScaledObject', 'imagegen-worker'), 'ScaledObject');
      expect(so.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(
        so.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleDown?.stabilizationWindowSeconds,
      ).toBeGreaterThanOrEqual(300);
      const names = so.triggers.map((t) => t.name!);
      expect(
        so.advanced?.scalingModifiers?.formula
          .split('+')
          .map((s) => s.trim())
          .sort(),
      ).toEqual([...names].sort());
      expect(Number(so.advanced?.scalingModifiers?.target)).toBeGreaterThan(0);
      for (const t of so.triggers) {
        expect(t.type).toBe('redis');
        named(objects, 'TriggerAuthentication', t.authenticationRef!.name);
      }

      // The service's own producer and consumer, under the manifests' prefix: one job running, one
      // waiting, and one added with a priority (BullMQ keeps those apart).
      const producer = new BullGenerationQueue(redis, prefix);
      const ids = ['a', 'b', 'c'].map((x) => `gen_keda_${overlay}_${x}_${randomUUID().slice(0, 6)}`);
      const [running, waiting, prioritized] = ids as [string, string, string];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let started!: (id: string) => void;
      const startedId = new Promise<string>((r) => (started = r));
      const consumerConnection = connectRedis(stack.redis.url, 'worker');
      const consumer = createConsumer(
        'generate',
        async (job) => {
          started(job.id);
          await gate;
        },
        { connection: consumerConnection, prefix, concurrency: 1 },
      );
      const priorityQueue = new Queue(JOB_CATALOG.generate.queue, {
        connection: redis,
        prefix: new Keys(prefix).bullPrefix(),
      });
      try {
        await producer.enqueue({ id: running, keyId: 'k', objectKey: 'o' });
        expect(await startedId).toBe(running);
        await producer.enqueue({ id: waiting, keyId: 'k', objectKey: 'o' });
        await priorityQueue.add(
          JOB_CATALOG.generate.name,
          { id: prioritized, keyId: 'k', objectKey: 'o' },
          {
            jobId: prioritized,
            priority: 5,
          },
        );
        const where = async (id: string) => {
          const keys = await keysHolding(id);
          expect(keys, `the one list or sorted set holding ${id}`).toHaveLength(1);
          return keys[0];
        };
        const byTrigger: Record<string, string> = Object.fromEntries(
          so.triggers.map((t) => [t.name!, t.metadata['listName']!]),
        );
        expect(byTrigger).toEqual({
          wait: await where(waiting),
          prioritized: await where(prioritized),
          active: await where(running),
        });
        // What KEDA's scaler computes (LLEN for a list, ZCARD for a sorted set), summed by the formula.
        let sum = 0;
        for (const key of Object.values(byTrigger)) {
          const type = await redis.type(key);
          sum += type === 'zset' ? await redis.zcard(key) : await redis.llen(key);
        }
        const counts = await priorityQueue.getJobCounts('waiting', 'prioritized', 'active');
        // (BullMQ 5 also counts a paused queue's jobs, none here: a paused queue is not one to scale.)
        expect(counts).toMatchObject({ waiting: 1, prioritized: 1, active: 1 });
        expect(sum).toBe(3);
      } finally {
        release();
        await consumer.close();
        await priorityQueue.obliterate({ force: true });
        await priorityQueue.close();
        await producer.close();
        await consumerConnection.quit();
      }
    },
  );

  it.each(OVERLAYS)('%s: the Prometheus alternative queries what the API exports', async (overlay) => {
    const alt = readObjects(`${K8S}/overlays/${overlay}/scaledobject-prometheus.yaml`);
    const objects = objectsOf(overlay);
    for (const o of alt) {
      await validateObject(o);
      const so = spec(o, 'ScaledObject');
      expect(so.scaleTargetRef.name).toBe(
        spec(named(objects, 'ScaledObject', o.metadata.name), 'ScaledObject').scaleTargetRef.name,
      );
      expect(so.minReplicaCount).toBeGreaterThanOrEqual(1);
      for (const t of so.triggers) {
        expect(t.type).toBe('prometheus');
        expect(t.metadata['ignoreNullValues']).toBe('false');
        for (const name of metricNames(t.metadata['query']!)) expect(liveNames).toContain(name);
        // The label values it filters on are the ones the live gauge carries.
        expect(t.metadata['query']).toContain(`queue="${JOB_CATALOG.generate.queue}"`);
        const text = await (await fetch(`${live.api}/metrics`)).text();
        for (const state of ['waiting', 'prioritized', 'active']) {
          expect(text).toContain(`bullmq_job_count{queue="${JOB_CATALOG.generate.queue}", state="${state}"`);
        }
      }
    }
  });
});

describe('dashboards and alerts', () => {
  it('Grafana dashboard queries only metrics the api, worker and dispatcher export', () => {
    const files = readdirSync(`${ROOT}infra/grafana`).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const dash = JSON.parse(readFileSync(`${ROOT}infra/grafana/${f}`, 'utf8')) as {
        panels: { title: string; type: string; targets?: { expr: string }[] }[];
      };
      const panels = dash.panels.filter((p) => p.type !== 'row');
      expect(panels.length).toBeGreaterThan(8);
      for (const p of panels) {
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        for (const t of p.targets!) {
          const names = metricNames(t.expr);
          expect(names.length, t.expr).toBeGreaterThan(0);
          for (const n of names) expect(liveNames, `${p.title}: ${t.expr}`).toContain(n);
        }
      }
    }
  });

  it('alert rules parse and name only metrics the services export', () => {
    const files = readdirSync(`${ROOT}infra/prometheus`).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const alerts: string[] = [];
    for (const f of files) {
      const doc = parse(readFileSync(`${ROOT}infra/prometheus/${f}`, 'utf8')) as {
        groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[];
      };
      for (const rule of doc.groups.flatMap((g) => g.rules)) {
        alerts.push(rule.alert);
        const names = metricNames(rule.expr);
        expect(names.length, rule.alert).toBeGreaterThan(0);
        for (const n of names) expect(liveNames, `${rule.alert}: ${rule.expr}`).toContain(n);
      }
    }
    expect(alerts).toEqual(
      expect.arrayContaining([
        'ImagegenNoReadyWorker',
        'ImagegenQueuedJobTooOld',
        'ImagegenWebhookDeliveriesFailing',
        'ImagegenHttpErrorRate',
        'ImagegenRedisUnavailable',
      ]),
    );
  });

  it('the live gauges behind those alerts report a ready worker, Redis up and an empty queue', async () => {
    const worker = await (await fetch(`${live.worker}/metrics`)).text();
    expect(worker).toMatch(/^imagegen_worker_ready\{[^}]*\} 1$/m);
    const api = await (await fetch(`${live.api}/metrics`)).text();
    expect(api).toMatch(/^imagegen_redis_up\{[^}]*\} 1$/m);
    expect(api).toMatch(/^imagegen_queue_oldest_job_age_seconds\{[^}]*\} 0$/m);
  });
});
