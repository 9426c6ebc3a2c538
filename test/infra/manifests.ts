import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parser } from '@prometheus-io/lezer-promql';
import { parseAllDocuments } from 'yaml';

/**
 * Reading infra/: Kubernetes objects rendered by kustomize and checked against the schemas of the
 * `kubernetes-models` packages, label selectors, and the metric names in PromQL expressions.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const K8S = `${ROOT}infra/k8s`;

/** A Kubernetes object as rendered (only the fields the checks read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

/**
 * `kubectl kustomize` and the version of the kustomize inside it, or why it cannot run. The manifests
 * keep to what kustomize v2.0.3 (Debian's kubectl 1.20, which .ci/run installs where no kubectl is)
 * renders, so any kubectl found here will do.
 */
export function kustomizeVersion(): { version: string } | { missing: string } {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (r.error) {
    return {
      missing:
        'kubectl is not on PATH: install it (Debian: apt-get install kubernetes-client, as .ci/run does); ' +
        'the Kubernetes manifests cannot be rendered and checked without it',
    };
  }
  const out = `${r.stdout}${r.stderr}`;
  const kustomize = /Kustomize Version: (\S+)/.exec(out)?.[1];
  const client = /GitVersion:"([^"]+)"|Client Version: (\S+)/.exec(out);
  return { version: kustomize ?? `embedded in kubectl ${client?.[1] ?? client?.[2] ?? '(unknown)'}` };
}

/**
 * Renders an overlay with `kubectl kustomize`. Its only accepted complaint is newer kubectl's
 * deprecation warning for `bases:` (kept for kubectl 1.20); anything else on stderr fails.
 */
export function render(dir: string): K8sObject[] {
  const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  const unexpected = r.stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^# Warning: 'bases' is deprecated/.test(line));
  if (r.status !== 0 || unexpected.length > 0) {
    throw new Error(`kubectl kustomize ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  }
  return parseObjects(r.stdout);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export function readObjects(path: string): K8sObject[] {
  return parseObjects(readFileSync(path, 'utf8'));
}

interface Model {
  validate(): void;
}

/**
 * Validates one object against the JSON schema its model class carries: the Kubernetes API's for
 * built-in kinds (`kubernetes-models`), KEDA's CRDs for keda.sh (`@kubernetes-models/keda`). Throws the
 * schema's errors; an apiVersion/kind with no model is an error too.
 */
export async function validateObject(o: K8sObject): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const path =
    group === 'keda.sh'
      ? `@kubernetes-models/keda/keda.sh/${version}/${o.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
  let mod: Record<string, new (data: unknown) => Model>;
  try {
    mod = (await import(path)) as Record<string, new (data: unknown) => Model>;
  } catch {
    throw new Error(`no schema for ${o.apiVersion} ${o.kind} (${path})`);
  }
  const ModelClass = mod[o.kind];
  if (!ModelClass) throw new Error(`${path} exports no ${o.kind}`);
  try {
    new ModelClass(o).validate();
  } catch (e) {
    throw new Error(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
  }
}

/** Whether a label selector selects these labels (an empty selector selects everything). */
export function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const value = labels[e.key];
    const ok =
      e.operator === 'In'
        ? value !== undefined && (e.values ?? []).includes(value)
        : e.operator === 'NotIn'
          ? value === undefined || !(e.values ?? []).includes(value)
          : e.operator === 'Exists'
            ? value !== undefined
            : value === undefined;
    if (!ok) return false;
  }
  return true;
}

/**
 * The metric names a PromQL expression reads, parsed by Prometheus's own grammar
 * (`@prometheus-io/lezer-promql`). Grafana's `$__rate_interval` becomes a duration first. Throws on
 * a syntax error.
 */
export function metricNames(expr: string): string[] {
  const text = expr.replaceAll('$__rate_interval', '5m');
  const names: string[] = [];
  const errors: number[] = [];
  parser.parse(text).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(text.slice(id.from, id.to));
      }
    },
  });
  if (errors.length > 0) throw new Error(`PromQL syntax error at ${errors[0]} in: ${expr}`);
  return names;
}

/**
 * The metric names a Prometheus text exposition declares: each `# TYPE` family, with the series a
 * histogram or summary family adds (`_bucket`, `_sum`, `_count`), plus every sample's name.
 */
export function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name = '', kind] = type;
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
    } else if (/^[a-zA-Z_:]/.test(line)) {
      names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
    }
  }
  return names;
}
