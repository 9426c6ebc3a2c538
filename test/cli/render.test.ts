import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { readPngText } from '@imagegen/engine';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'apps/cli/bin/imagegen.js');
const fixture = join(root, 'packages/engine/fixtures/tiny-random');
const out = mkdtempSync(join(tmpdir(), 'imagegen-cli-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The compiled CLI (npm test builds it first with tsc -b), run as a user would.
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: out });

describe('imagegen render', () => {
  it('writes the image at the exact size and prints seed and per-stage timings', async () => {
    const file = join(out, 'red.png');
    const r = run(
      'render',
      'A red circle',
      '--aspect-ratio',
      '1:1',
      '--seed',
      '42',
      '--format',
      'png',
      '--out',
      file,
      '--model',
      fixture,
      '--steps',
      '3',
      '--guidance',
      '2',
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('seed 42, 3 steps, guidance 2');
    expect(r.stdout).toMatch(
      /tokenize [\d.]+ ms, text encode [\d.]+ ms, unet [\d.]+ ms \([\d.]+ ms\/step\), vae [\d.]+ ms, upscale [\d.]+ ms, safety [\d.]+ ms, encode [\d.]+ ms/,
    );
    const meta = await sharp(file).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1024, 1024]);
    const { readFileSync } = await import('node:fs');
    expect(JSON.parse(readPngText(readFileSync(file))['imagegen']!)).toMatchObject({
      seed: 42,
      prompt: 'A red circle',
    });
  });

  it('defaults to 16:9 JPEG with a random seed it prints', async () => {
    const r = run('render', 'a cat', '--model', fixture);
    expect(r.status).toBe(0);
    const seed = /seed (\d+),/.exec(r.stdout)?.[1];
    expect(seed).toBeDefined();
    const meta = await sharp(join(out, `imagegen-${seed!}.jpg`)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1920, 1080]);
  });

  it('rejects bad usage with status 2 and says what to change', () => {
    const bad = run('render', 'a cat', '--aspect-ratio', '5:4', '--model', fixture);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--aspect-ratio must be one of 1:1, 16:9, 9:16, 4:3, 3:4, 21:9, 9:21');
    expect(run('render', '--model', fixture).stderr).toContain('a prompt is required');
    expect(run('render', 'x', '--seed=4294967296', '--model', fixture).stderr).toContain(
      '--seed must be an integer 0..4294967295',
    );
    expect(run('frobnicate').status).toBe(2);
  });

  it('reports a bad model directory with its error code and status 1', () => {
    const r = run('render', 'a cat', '--model', join(out, 'missing'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^imagegen: model_not_found: model_index\.json is missing/);
  });
});

describe('imagegen keys', () => {
  it('creates (secret shown once), lists and revokes keys in the service Redis', async () => {
    const { startRedis } = await import('../support/redis.js');
    const { connectRedis } = await import('@imagegen/jobs');
    const { RedisApiKeyRepository } = await import('@imagegen/access');
    const redis = await startRedis();
    try {
      const env = { ...process.env, REDIS_URL: redis.url, REDIS_PREFIX: 'clitest' };
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, [bin, 'keys', ...args], { encoding: 'utf8', env });
      const created = cli('create', '--name', 'ci robot');
      expect(created.status).toBe(0);
      const secret = /^secret\s+(\S+)/m.exec(created.stdout)![1]!;
      const webhookSecret = /^webhook secret\s+(whsec_\S+)/m.exec(created.stdout)![1]!;
      const id = /id\s+(\S+)/.exec(created.stdout)![1]!;
      const client = connectRedis(redis.url, 'worker');
      const store = new RedisApiKeyRepository(client, 'clitest');
      expect(await store.verify(secret)).toBe(id);
      expect(await store.webhookSecrets(id)).toEqual([webhookSecret]);
      const rotated = cli('rotate-webhook-secret', id, '--grace-hours', '2');
      expect(rotated.status).toBe(0);
      const next = /^webhook secret\s+(whsec_\S+)/m.exec(rotated.stdout)![1]!;
      expect(rotated.stdout).toContain('the previous secret also signs until');
      expect(await store.webhookSecrets(id)).toEqual([next, webhookSecret]);
      expect(cli('rotate-webhook-secret', id, '--grace-hours', 'soon').status).toBe(2);
      const listed = cli('list');
      expect(listed.stdout).toContain(`${id}\tci robot\t`);
      expect(listed.stdout).not.toContain(secret);
      expect(cli('revoke', id).stdout).toContain(`revoked ${id}`);
      expect(await store.verify(secret)).toBeNull();
      expect(cli('revoke', 'nope').status).toBe(2);
      expect(cli('create').stderr).toContain('keys create needs --name NAME');
      client.disconnect();
    } finally {
      await redis.stop();
    }
  });
});
