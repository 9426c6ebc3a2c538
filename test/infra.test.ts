import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../', import.meta.url));

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

// No Docker engine runs where the tests run, so the compose file is checked by reading it.
describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
  const { services } = compose;

  it('runs Redis with AOF persistence and noeviction', () => {
    const cmd = services['redis']!.command as string[];
    expect(cmd.join(' ')).toContain('--appendonly yes');
    expect(cmd.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(services['redis']!.volumes?.[0]).toMatch(/^redis-data:\/data$/);
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
  const { services } = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
  };

  it('runs api, scalable workers and the dispatcher against the compose Redis and MinIO', () => {
    for (const name of ['api', 'worker', 'worker-gpu', 'dispatcher']) {
      const s = services[name]!;
      expect(s.environment).toMatchObject({
        REDIS_URL: 'redis://redis:6379',
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
