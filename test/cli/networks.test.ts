import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

import { packageRoot } from '@imagegen/networks';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'apps/cli/bin/imagegen.js');
// A 128² photograph (UpscalerJS's test fixture, a devDependency).
const photo = join(packageRoot('@upscalerjs/esrgan-slim')!, 'assets', 'fixture.png');
const out = mkdtempSync(join(tmpdir(), 'imagegen-cli-networks-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

// The compiled CLI (npm test builds it first with tsc -b), run as an operator would.
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: out });

describe('imagegen safety', () => {
  it('prints one JSON line per image: the five class scores and the verdict at tolerance 0…6', () => {
    const r = run('safety', photo, photo);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    const scores = lines[0]!['scores'] as Record<string, number>;
    expect(Object.keys(scores).sort()).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
    expect(scores['Neutral']).toBeGreaterThan(0.9); // a flower photograph
    expect(lines[0]!['verdicts']).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((tolerance) => ({ tolerance, blocked: false, label: null, category: null })),
    );
  });

  it('exits 2 naming a file that does not exist', () => {
    const r = run('safety', join(out, 'missing.png'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no such file');
  });
});

describe('imagegen upscale', () => {
  it("writes the network's exact ×2 output and refuses a scale the network lacks", async () => {
    const file = join(out, 'flower-x2.png');
    const r = run('upscale', photo, '--network', 'esrgan-slim', '--scale', '2', '--out', file);
    expect(r.status, r.stderr).toBe(0);
    expect(await sharp(file).metadata()).toMatchObject({ width: 256, height: 256, format: 'png' });
    const bad = run('upscale', photo, '--scale', '3', '--out', join(out, 'x3.png'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no ×3 network (available: 2, 4, 8)');
  });
});
