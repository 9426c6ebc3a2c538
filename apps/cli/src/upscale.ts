import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';

import { ImageUpscaler } from '@imagegen/engine';

import { asUsage, resolveNetwork } from './networks-cli.js';
import { UsageError } from './usage.js';

export async function upscale(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      network: { type: 'string' },
      scale: { type: 'string', default: '4' },
      out: { type: 'string' },
      provider: { type: 'string', default: 'cpu' },
    },
  });
  const [input, ...extra] = positionals;
  if (!input || extra.length > 0) throw new UsageError('exactly one input image is required');
  if (!existsSync(input)) throw new UsageError(`no such file: ${input}`);
  const scale = Number(values.scale);
  if (!Number.isInteger(scale) || scale < 1) throw new UsageError('--scale must be a positive integer');
  const provider = values.provider;
  if (provider !== 'cpu' && provider !== 'cuda') throw new UsageError('--provider must be cpu or cuda');
  const out = values.out ?? `${input.slice(0, input.length - extname(input).length)}-x${scale}.png`;
  const ext = extname(out).slice(1).toLowerCase();
  const format = ext === 'jpg' || ext === 'jpeg' ? 'jpeg' : ext === 'png' ? 'png' : null;
  if (!format) throw new UsageError('--out must end in .png or .jpg');
  const upscaler = await asUsage(() =>
    ImageUpscaler.open(resolveNetwork(values.network, 'esrgan-slim'), { provider }),
  );
  try {
    const started = performance.now();
    const result = await asUsage(() => upscaler.upscaleFile(readFileSync(input), scale, format));
    writeFileSync(out, result.image);
    process.stdout.write(
      `${out}: ${result.width}×${result.height} ${format}, ${result.image.length} bytes, ${Math.round(performance.now() - started)} ms\n`,
    );
  } finally {
    await upscaler.close();
  }
}
