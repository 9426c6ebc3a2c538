import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ImageSafetyClassifier } from '@imagegen/engine';
import { SAFETY_NETWORK } from '@imagegen/networks';

import { resolveNetwork } from './networks-cli.js';
import { UsageError } from './usage.js';

export const SAFETY_USAGE = `imagegen safety IMAGE… [options]

  Classifies each image with the worker's image safety stage and prints one JSON line per image: the
  classifier's score per class and the verdict at each safety_tolerance 0…6 (to tune thresholds on your
  own pictures).

  --model DIR        classifier directory (default: the shipped ${SAFETY_NETWORK})
  --provider P       cpu or cuda (default cpu)`;

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
  const classifier = await ImageSafetyClassifier.open(resolveNetwork(values.model, SAFETY_NETWORK), {
    provider,
  });
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
