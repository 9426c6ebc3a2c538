import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ImageSafetyClassifier } from '@imagegen/engine';
import { SAFETY_NETWORK } from '@imagegen/networks';

import { asUsage, resolveNetwork } from './networks-cli.js';
import { UsageError } from './usage.js';

export async function safety(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, provider: { type: 'string', default: 'cpu' } },
  });
  if (positionals.length === 0) throw new UsageError('at least one image file is required');
  const missing = positionals.find((f) => !existsSync(f));
  if (missing) throw new UsageError(`no such file: ${missing}`);
  const provider = values.provider;
  if (provider !== 'cpu' && provider !== 'cuda') throw new UsageError('--provider must be cpu or cuda');
  const classifier = await asUsage(() =>
    ImageSafetyClassifier.open(resolveNetwork(values.model, SAFETY_NETWORK), { provider }),
  );
  try {
    for (const file of positionals) {
      const report = await classifier.classifyFile(readFileSync(file));
      const line = {
        file,
        scores: Object.fromEntries(Object.entries(report.scores).map(([k, v]) => [k, Number(v.toFixed(6))])),
        verdicts: report.verdicts.map((v, tolerance) => ({
          tolerance,
          blocked: v.flagged,
          label: v.label,
          category: v.category,
        })),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    await classifier.close();
  }
}
