import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PULL_RECORD_FILE, PullRecord } from '@imagegen/engine';

import { startHub, type LoopbackHub } from '../support/hub.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'apps/cli/bin/imagegen.js');
const fixture = join(root, 'packages/engine/fixtures/tiny-random');
const work = mkdtempSync(join(tmpdir(), 'imagegen-models-'));
const modelsDir = join(work, 'models');
const REPO = 'imagegen-test/tiny-random';
const TOKEN = 'hf_loopbacktesttoken';

let hub: LoopbackHub;

beforeAll(async () => {
  // A repository in the ONNX layout that also holds what pull must leave out: PyTorch weights of the
  // same UNet, a VAE encoder the engine never opens, an ONNX variant, a README.
  const pytorchOnly = join(work, 'pytorch-only');
  mkdirSync(join(pytorchOnly, 'unet'), { recursive: true });
  writeFileSync(join(pytorchOnly, 'model_index.json'), '{"_class_name":"StableDiffusionPipeline"}');
  writeFileSync(join(pytorchOnly, 'unet/diffusion_pytorch_model.safetensors'), Buffer.alloc(4096, 7));
  hub = await startHub({
    token: TOKEN,
    repos: {
      [REPO]: {
        dir: fixture,
        extra: {
          'unet/diffusion_pytorch_model.safetensors': Buffer.alloc(5000, 1),
          'vae_encoder/model.onnx': Buffer.alloc(3000, 2),
          'unet/model_fp16.onnx': Buffer.alloc(2000, 3),
          'README.md': Buffer.from('# tiny random\n'),
        },
      },
      'imagegen-test/gated': { dir: fixture, gated: true },
      'imagegen-test/pytorch-only': { dir: pytorchOnly },
    },
  });
});
afterAll(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

/** The compiled CLI as a user runs it, against the loopback hub (spawned: the hub answers in this process). */
function imagegen(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: work,
    env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: '', IMAGEGEN_MODELS_DIR: modelsDir, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
}

const pulledDir = join(modelsDir, 'imagegen-test', 'tiny-random');
const record = (dir: string) =>
  PullRecord.parse(JSON.parse(readFileSync(join(dir, PULL_RECORD_FILE), 'utf8')));

describe('imagegen models pull, list and verify against a loopback hub', () => {
  it('pulls only the files the engine uses, each hash-checked, into IMAGEGEN_MODELS_DIR/owner/name', async () => {
    const r = await imagegen(['models', 'pull', REPO]);
    expect(r.stderr).not.toMatch(/error|interrupted/i);
    expect(r.status).toBe(0);
    const commit = hub.repo(REPO).commit;
    expect(r.stdout).toContain(`pulled ${REPO}@${commit.slice(0, 12)}`);
    expect(r.stdout).toContain(`MODEL_DIR=${REPO}`);
    expect(r.stderr).toMatch(
      /unet\/model\.onnx [\d.]+ kB: downloaded in [\d.]+ s \([\d.]+ .?B\/s\), hash checked/,
    );
    for (const skipped of [
      'unet/diffusion_pytorch_model.safetensors',
      'vae_encoder/model.onnx',
      'unet/model_fp16.onnx',
      'README.md',
    ]) {
      expect(existsSync(join(pulledDir, skipped)), skipped).toBe(false);
    }
    const rec = record(pulledDir);
    expect(rec).toMatchObject({ repo: REPO, revision: commit, requested: 'main', endpoint: hub.url });
    expect(rec.files.map((f) => f.path)).toContain('unet/model.onnx');
    expect(rec.files.find((f) => f.path === 'unet/model.onnx')?.algorithm).toBe('sha256');
    expect(rec.files.find((f) => f.path === 'model_index.json')?.algorithm).toBe('git-sha1');
    for (const f of rec.files) expect(statSync(join(pulledDir, f.path)).size).toBe(f.size);
    // The listing came in pages (Link: rel="next"), every one read.
    expect(
      hub.requests.filter((q) => q.url.includes('/tree/') && q.url.includes('cursor=')).length,
    ).toBeGreaterThan(0);

    // Pulled again: every file is already there and intact, so nothing is downloaded.
    const before = hub.requests.length;
    const again = await imagegen(['models', 'pull', REPO]);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('unet/model.onnx 82.0 kB: already here, hash checked');
    expect(
      hub.requests.slice(before).filter((q) => q.url.includes('/resolve/') || q.url.startsWith('/cdn/')),
    ).toEqual([]);
  });

  it('lists the pulled model with its revision and size, and verifies it end to end', async () => {
    const list = await imagegen(['models', 'list']);
    expect(list.status).toBe(0);
    const commit = hub.repo(REPO).commit;
    expect(list.stdout).toMatch(
      new RegExp(`^${REPO}\\s+${commit.slice(0, 12)} \\(main\\)\\s+[\\d.]+ kB\\s+\\d{4}-`, 'm'),
    );

    const v = await imagegen(['models', 'verify', REPO]);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    expect(v.stdout).toContain(`model        ${REPO}@${commit.slice(0, 12)} (main`);
    expect(v.stdout).toMatch(/files +\d+ files, [\d.]+ kB, every hash matches/);
    expect(v.stdout).toMatch(/scheduler +EulerAncestralDiscreteScheduler \(trailing spacing\)/);
    expect(v.stdout).toMatch(/native size +\d+×\d+ \(generation sizes are multiples of \d+\)/);
    expect(v.stdout).toContain('defaults     4 steps, guidance 3');
    expect(v.stdout).toMatch(/sessions +every network loaded .+ in \d+ ms/);
    expect(v.stdout).toMatch(/one step +\d+×\d+ in \d+ ms/);
    expect(v.stdout).toMatch(/peak memory +\d+ MiB resident/);
    expect(v.stdout.trimEnd().endsWith('ok')).toBe(true);
  });

  it('resumes an interrupted download from where it stopped (a Range request), then checks the hash', async () => {
    const dir = join(work, 'resumed');
    const unet = hub.repo(REPO).files.find((f) => f.path === 'unet/model.onnx')!;
    hub.cutAfter('unet/model.onnx', 30_000);
    const first = await imagegen(['models', 'pull', REPO, '--dir', dir]);
    expect(first.status).toBe(1);
    expect(first.stderr).toMatch(
      /unet\/model\.onnx: the download was interrupted .+run the same pull again to resume it/,
    );
    const part = statSync(join(dir, 'unet/model.onnx.part')).size;
    expect(part).toBeGreaterThan(0);
    expect(part).toBeLessThan(unet.bytes.length);
    expect(existsSync(join(dir, PULL_RECORD_FILE))).toBe(false);

    const before = hub.requests.length;
    const second = await imagegen(['models', 'pull', REPO, '--dir', dir]);
    expect(second.status).toBe(0);
    expect(second.stderr).toMatch(/unet\/model\.onnx 82\.0 kB: resumed from [\d.]+ kB/);
    const ranges = hub.requests
      .slice(before)
      .filter((q) => q.url === `/cdn/${unet.sha256}` && q.range !== 'bytes=0-0')
      .map((q) => q.range);
    expect(ranges).toEqual([`bytes=${part}-${unet.bytes.length - 1}`]);
    expect(readFileSync(join(dir, 'unet/model.onnx')).equals(unet.bytes)).toBe(true);
    expect(existsSync(join(dir, 'unet/model.onnx.part'))).toBe(false);
  });

  it('refuses a file whose bytes do not match the hub hash, and verify finds a file damaged on disk', async () => {
    const dir = join(work, 'corrupt');
    hub.corrupt('vae_decoder/model.onnx', true);
    try {
      const r = await imagegen(['models', 'pull', REPO, '--dir', dir]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /vae_decoder\/model\.onnx: its sha256 is [0-9a-f]{64}, but the hub lists [0-9a-f]{64}: the download is corrupt/,
      );
      expect(existsSync(join(dir, 'vae_decoder/model.onnx'))).toBe(false);
      expect(existsSync(join(dir, 'vae_decoder/model.onnx.part'))).toBe(false);
      expect(existsSync(join(dir, PULL_RECORD_FILE))).toBe(false);
    } finally {
      hub.corrupt('vae_decoder/model.onnx', false);
    }
    // A model damaged after its pull: one byte of the text encoder changed.
    const damaged = join(work, 'resumed');
    const file = join(damaged, 'text_encoder/model.onnx');
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 1;
    writeFileSync(file, bytes);
    const v = await imagegen(['models', 'verify', damaged]);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(
      'damaged files: text_encoder/model.onnx (sha256 differs from the pull record)',
    );
  });

  it('says what to do for a gated repository, a missing one and one not in the ONNX layout', async () => {
    const gated = await imagegen(['models', 'pull', 'imagegen-test/gated', '--dir', join(work, 'gated')]);
    expect(gated.status).toBe(1);
    expect(gated.stderr).toMatch(
      /imagegen-test\/gated: the hub asks for authentication \(401\).+set HF_TOKEN/,
    );
    const withToken = await imagegen(
      ['models', 'pull', 'imagegen-test/gated', '--dir', join(work, 'gated')],
      {
        HF_TOKEN: TOKEN,
      },
    );
    expect(withToken.stderr).not.toMatch(/401/);
    expect(withToken.status).toBe(0);

    const missing = await imagegen(['models', 'pull', 'imagegen-test/nope']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('imagegen-test/nope@main: not found on');

    const torch = await imagegen(['models', 'pull', 'imagegen-test/pytorch-only']);
    expect(torch.status).toBe(1);
    expect(torch.stderr).toMatch(
      /imagegen-test\/pytorch-only@main is not a model in the diffusers\/Optimum ONNX layout: it lacks tokenizer\/vocab\.json, .*text_encoder\/model\.onnx, unet\/model\.onnx, vae_decoder\/model\.onnx; it holds PyTorch weights: export it with `optimum-cli export onnx/,
    );

    const usage = await imagegen(['models', 'pull', 'not-a-repo']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('REPO must be owner/name');
  });
});

describe('a pulled model in the service', () => {
  it('serves images with MODEL_DIR=<pulled name>, reports the model at /readyz and on every job', async () => {
    const { startStack, client } = await import('../support/stack.js');
    // The pull of the first test, unless this test runs alone.
    if (!existsSync(join(pulledDir, PULL_RECORD_FILE))) {
      expect((await imagegen(['models', 'pull', REPO])).status).toBe(0);
    }
    const commit = hub.repo(REPO).commit;
    const stack = await startStack({ env: { MODEL_DIR: REPO, IMAGEGEN_MODELS_DIR: modelsDir } });
    try {
      const api = client(stack);
      const r = await api('/v1/images/generations', {
        body: { prompt: 'a red circle', aspect_ratio: '1:1', seed: 7 },
        headers: { prefer: 'wait=60' },
      });
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ status: 'succeeded', model: { name: REPO, revision: commit } });
      const image = await fetch(r.json['image_url'] as string);
      expect(image.status).toBe(200);
      expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(100);

      const model = { name: REPO, revision: commit, native: { width: 128, height: 128 } };
      const worker = await fetch(`http://127.0.0.1:${stack.workers[0]!.port}/readyz`);
      expect(await worker.json()).toEqual({ status: 'ready', model });
      expect((await api('/readyz', { key: null })).json).toMatchObject({ status: 'ready', models: [model] });

      // The same model where it cannot fit: the worker refuses to start, saying why.
      const { loadWorkerConfig, startWorker } = await import('@imagegen/worker');
      await expect(
        startWorker(
          loadWorkerConfig({
            ...stack.env,
            MODEL_DIR: REPO,
            IMAGEGEN_MODELS_DIR: modelsDir,
            MODEL_MEMORY_BYTES: '100000000',
          }),
        ),
      ).rejects.toThrow(
        /MODEL_DIR: the model will not fit this machine: its weights are 0\.00 GiB, so it needs about 0\.50 GiB .+ but only 0\.09 GiB is free \(MODEL_MEMORY_BYTES\)/,
      );
    } finally {
      await stack.stop();
    }
  });
});
