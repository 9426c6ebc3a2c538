import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { loadApiConfig } from '@imagegen/api';
import { loadDispatcherConfig } from '@imagegen/dispatcher';
import { loadWorkerConfig } from '@imagegen/worker';

const root = fileURLToPath(new URL('../', import.meta.url));

/** What an operator puts in .env (the compose files have no default credentials). */
const DOT_ENV = {
  REDIS_PASSWORD: 'redis-pw-0123456789abcdef',
  MINIO_ROOT_USER: 'imagegen',
  MINIO_ROOT_PASSWORD: 'minio-pw-0123456789abcdef',
  IMAGEGEN_INFRA_HOST: '10.0.0.5',
};

interface Service {
  environment?: Record<string, string>;
  ports?: string[];
  container_name?: string;
  deploy?: { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } };
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  profiles?: string[];
}

/**
 * Compose's variable interpolation in one string value: `$$` is a literal `$`, `${VAR}`,
 * `${VAR:-default}`, and `${VAR:?message}`, which fails when VAR is unset or empty (as `docker compose` does).
 */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}/g, (all, name, op, arg) => {
    if (all === '$$') return '$';
    const value = env[name as string];
    if (value) return value;
    if (op === '?') throw new Error(`${String(name)}: ${String(arg)}`);
    return op === '-' ? String(arg) : '';
  });
}

/** Compose parses the YAML first, then interpolates its string values. */
function interpolated(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') return interpolate(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolated(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolated(v, env)]));
  }
  return value;
}

const composeFile = (path: string, env: Record<string, string> = DOT_ENV) =>
  interpolated(parse(readFileSync(`${root}${path}`, 'utf8'), { merge: true }), env) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };

describe('docker-compose.yml', () => {
  const compose = composeFile('docker-compose.yml');
  const { services } = compose;

  it('runs Redis with AOF persistence, noeviction and a password', () => {
    const cmd = (services['redis']!.command as string[]).join(' ');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    // The shell in the container reads the password from its environment.
    expect(cmd).toContain('--requirepass "$REDIS_PASSWORD"');
    expect(services['redis']!.environment!['REDIS_PASSWORD']).toBe(DOT_ENV.REDIS_PASSWORD);
    expect(services['redis']!.healthcheck!.test.join(' ')).toContain('-a "$REDIS_PASSWORD"');
    expect(services['redis']!.volumes?.[0]).toMatch(/^redis-data:\/data$/);
    // Published on loopback unless REDIS_PUBLISH names an address other hosts reach.
    expect(services['redis']!.ports).toEqual(['127.0.0.1:6379:6379']);
    expect(
      composeFile('docker-compose.yml', { ...DOT_ENV, REDIS_PUBLISH: '10.0.0.5' }).services['redis']!.ports,
    ).toEqual(['10.0.0.5:6379:6379']);
  });

  it('has no default credentials: it refuses to start without the secrets from .env', () => {
    for (const name of ['REDIS_PASSWORD', 'MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD']) {
      const env = Object.fromEntries(Object.entries(DOT_ENV).filter(([k]) => k !== name));
      expect(() => composeFile('docker-compose.yml', env), name).toThrow(new RegExp(`^${name}: set ${name}`));
    }
    const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
    expect(text).not.toMatch(/(PASSWORD|ROOT_USER|ACCESS_KEY|SECRET_KEY)[^\n]*:-/);
  });

  it('gives every service an environment its real config loader accepts', () => {
    const env = (name: string) => services[name]!.environment!;
    expect(loadApiConfig({ ...env('api') }).REDIS_URL).toBe(`redis://:${DOT_ENV.REDIS_PASSWORD}@redis:6379`);
    expect(loadWorkerConfig({ ...env('worker') }).S3_SECRET_KEY).toBe(DOT_ENV.MINIO_ROOT_PASSWORD);
    expect(loadWorkerConfig({ ...env('worker-gpu') }).ORT_PROVIDER).toBe('cuda');
    expect(loadDispatcherConfig({ ...env('dispatcher') }).S3_ACCESS_KEY).toBe(DOT_ENV.MINIO_ROOT_USER);
  });

  it('creates the bucket with a lifecycle rule once MinIO is healthy', () => {
    expect(services['minio']!.healthcheck).toBeDefined();
    expect(services['minio-setup']!.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    const script = (services['minio-setup']!.command as string[]).join(' ');
    expect(script).toContain('mc mb --ignore-existing local/imagegen');
    expect(script).toContain('mc ilm rule add --expire-days 1');
  });

  it('builds services from Dockerfiles that exist, and declares every named volume', () => {
    for (const s of Object.values(services)) {
      if (s.build) expect(() => readFileSync(`${root}${s.build!.dockerfile}`)).not.toThrow();
      for (const v of s.volumes ?? []) {
        const name = v.split(':')[0]!;
        if (!name.startsWith('.')) expect(compose.volumes).toHaveProperty(name);
      }
      for (const dep of Object.keys(s.depends_on ?? {})) expect(services).toHaveProperty(dep);
    }
  });
});

describe('docker-compose.yml services', () => {
  const { services } = composeFile('docker-compose.yml');

  it('runs api, scalable workers and the dispatcher against the compose Redis and MinIO', () => {
    for (const name of ['api', 'worker', 'worker-gpu', 'dispatcher']) {
      const s = services[name]!;
      expect(s.environment).toMatchObject({
        REDIS_URL: `redis://:${DOT_ENV.REDIS_PASSWORD}@redis:6379`,
        S3_ENDPOINT: 'http://minio:9000',
      });
      expect(s.depends_on).toEqual({
        redis: { condition: 'service_healthy' },
        'minio-setup': { condition: 'service_completed_successfully' },
      });
      const entry = (s.command as string[])[0]!;
      expect(existsSync(`${root}${entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts')}`)).toBe(true);
    }
    // `--scale worker=N` needs no fixed host port or container name.
    expect(services['worker']!.ports).toBeUndefined();
    expect(services['worker']!.container_name).toBeUndefined();
    expect(services['api']!.ports).toEqual(['8080:8080']);
  });

  it('has a GPU worker variant with a device reservation and the CUDA build', () => {
    const gpu = services['worker-gpu']!;
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.environment!['ORT_PROVIDER']).toBe('cuda');
    expect(gpu.deploy!.resources.reservations.devices[0]).toMatchObject({
      driver: 'nvidia',
      capabilities: ['gpu'],
    });
    const dockerfile = readFileSync(`${root}${gpu.build!.dockerfile}`, 'utf8');
    expect(dockerfile).toContain('ENV ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(dockerfile).toMatch(/FROM nvidia\/cuda:12[.\d]*-cudnn-runtime/);
  });
});

describe('infra/compose/workers.yml (workers on hosts of their own)', () => {
  const { services } = composeFile('infra/compose/workers.yml');

  it('runs one GPU worker per device, each on the GPU its ORT_DEVICE_ID names', () => {
    const gpu = Object.keys(services).filter((n) => n.startsWith('worker-gpu'));
    expect(gpu.length).toBeGreaterThanOrEqual(2);
    for (const [i, name] of gpu.sort().entries()) {
      const config = loadWorkerConfig({ ...services[name]!.environment });
      expect(name).toBe(`worker-gpu${i}`);
      expect(config.ORT_PROVIDER).toBe('cuda');
      expect(config.ORT_DEVICE_ID).toBe(i);
      expect(config.WORKER_CONCURRENCY).toBe(1);
      expect(services[name]!.deploy!.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia' });
    }
  });

  it('reaches Redis (with its password) and MinIO on the infrastructure host, and nothing else', () => {
    for (const [name, s] of Object.entries(services)) {
      const config = loadWorkerConfig({ ...s.environment });
      expect(config.REDIS_URL, name).toBe(`redis://:${DOT_ENV.REDIS_PASSWORD}@10.0.0.5:6379`);
      expect(config.S3_ENDPOINT, name).toBe('http://10.0.0.5:9000');
      expect(s.ports, name).toBeUndefined();
      if (s.build) expect(existsSync(`${root}${s.build.dockerfile}`)).toBe(true);
    }
    const env: Record<string, string> = { ...DOT_ENV };
    delete env['IMAGEGEN_INFRA_HOST'];
    expect(() => composeFile('infra/compose/workers.yml', env)).toThrow(/IMAGEGEN_INFRA_HOST/);
  });
});

describe('infra/docker/Dockerfile', () => {
  it.each(['Dockerfile', 'Dockerfile.gpu'])(
    '%s copies the manifest of every workspace package before npm ci',
    (file) => {
      const dockerfile = readFileSync(`${root}infra/docker/${file}`, 'utf8');
      const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { workspaces: string[] };
      expect(pkg.workspaces).toEqual(['packages/*', 'apps/*']);
      const dirs = ['apps', 'packages'].flatMap((top) =>
        readdirSync(`${root}${top}`)
          .filter((d) => existsSync(`${root}${top}/${d}/package.json`))
          .map((d) => `${top}/${d}`),
      );
      expect(dirs.length).toBeGreaterThan(1);
      for (const dir of dirs) expect(dockerfile).toContain(`COPY ${dir}/package.json ${dir}/`);
      expect(dockerfile.indexOf('npm ci')).toBeLessThan(dockerfile.indexOf('COPY packages packages'));
    },
  );
  it('runs as an unprivileged user', () => {
    expect(readFileSync(`${root}infra/docker/Dockerfile`, 'utf8')).toMatch(/^USER node$/m);
    expect(readFileSync(`${root}infra/docker/Dockerfile.gpu`, 'utf8')).toMatch(/^USER imagegen$/m);
  });
});
