/**
 * `npm run eval:model`: generates the held-out prompts of packages/tiny-model/eval_prompts.json through the
 * engine (default steps and guidance unless given) across seeds and aspect ratios, scores every image with
 * the renderer-derived evaluator (packages/tiny-model/groundtruth.py: palette colours, connected components,
 * geometric shape features), and prints accuracy per attribute and per aspect ratio against the targets.
 *
 *   npm run eval:model -- [--seeds 3] [--aspects 1:1,16:9,…] [--steps N] [--guidance G] [--model DIR] [--keep DIR]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { ASPECT_RATIO_NAMES, Engine, isAspectRatio, type AspectRatio } from '@imagegen/engine';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = join(root, 'packages/tiny-model');
const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '3' },
    aspects: { type: 'string', default: ASPECT_RATIO_NAMES.join(',') },
    steps: { type: 'string' },
    guidance: { type: 'string' },
    model: { type: 'string', default: join(pkg, 'model') },
    keep: { type: 'string' },
  },
});
const TARGETS = { color: 0.95, background: 0.95, shape: 0.85, count: 0.8 } as const;
type Attr = keyof typeof TARGETS;
interface Case {
  prompt: string;
  shape: string;
  color: string;
  background: string;
  count: number;
}
const cases = (JSON.parse(readFileSync(join(pkg, 'eval_prompts.json'), 'utf8')) as { prompts: Case[] })
  .prompts;
const aspects = values.aspects.split(',').filter((a): a is AspectRatio => isAspectRatio(a));
const seeds = Number(values.seeds);
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'imagegen-eval-'));
mkdirSync(dir, { recursive: true });

const engine = await Engine.load({ modelDir: values.model });
const jobs: { file: string; c: Case; ar: AspectRatio; seed: number }[] = [];
let genMs = 0;
try {
  let n = 0;
  for (const [i, c] of cases.entries()) {
    for (let s = 0; s < seeds; s++) {
      // Every prompt meets several aspect ratios; each aspect ratio sees every kind of prompt.
      const ar = aspects[(i + s) % aspects.length]!;
      const seed = 1000 + 97 * i + s;
      const r = await engine.generate({
        prompt: c.prompt,
        aspectRatio: ar,
        seed,
        format: 'png',
        ...(values.steps ? { steps: Number(values.steps) } : {}),
        ...(values.guidance ? { guidance: Number(values.guidance) } : {}),
      });
      genMs += r.timings.total;
      const file = join(dir, `${String(n++).padStart(4, '0')}-${ar.replace(':', 'x')}-${seed}.png`);
      writeFileSync(file, r.image);
      jobs.push({ file, c, ar, seed });
    }
  }
} finally {
  await engine.close();
}

const out = execFileSync('/usr/bin/python3', [join(pkg, 'groundtruth.py'), ...jobs.map((j) => j.file)], {
  cwd: pkg,
  encoding: 'utf8',
  maxBuffer: 64 * 2 ** 20,
});
const seen = new Map(
  out
    .trim()
    .split('\n')
    .map((l) => {
      const v = JSON.parse(l) as {
        file: string;
        color: string;
        background: string;
        shape: string;
        count: number;
      };
      return [v.file, v] as const;
    }),
);
const tally = (filter: (j: (typeof jobs)[number]) => boolean) => {
  const rows = jobs.filter(filter);
  const acc = (attr: Attr) =>
    rows.filter((j) => String(seen.get(j.file)?.[attr]) === String(j.c[attr])).length / rows.length;
  return {
    n: rows.length,
    color: acc('color'),
    background: acc('background'),
    shape: acc('shape'),
    count: acc('count'),
  };
};
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
console.log(
  `${cases.length} held-out prompts × ${seeds} seeds = ${jobs.length} images over ${aspects.join(' ')}; ${(genMs / jobs.length).toFixed(0)} ms per image; images in ${dir}\n`,
);
console.log(['aspect', 'images', 'color', 'background', 'shape', 'count'].join('\t'));
for (const ar of aspects) {
  const t = tally((j) => j.ar === ar);
  console.log([ar, t.n, pct(t.color), pct(t.background), pct(t.shape), pct(t.count)].join('\t'));
}
const all = tally(() => true);
console.log(['all', all.n, pct(all.color), pct(all.background), pct(all.shape), pct(all.count)].join('\t'));
console.log(
  [
    'target',
    '',
    ...(['color', 'background', 'shape', 'count'] as const).map((a) => `≥ ${pct(TARGETS[a])}`),
  ].join('\t'),
);
const shortfalls = (Object.keys(TARGETS) as Attr[]).filter((a) => all[a] < TARGETS[a]);
console.log(shortfalls.length === 0 ? '\nall targets met' : `\nbelow target: ${shortfalls.join(', ')}`);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
process.exitCode = shortfalls.length === 0 ? 0 : 1;
