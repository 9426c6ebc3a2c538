import { parseArgs } from 'node:util';

import { loadCliConfig } from '../config.js';
import { clientFor, resolveTarget, TARGET_OPTIONS } from '../target.js';
import { CommandError, UsageError } from '../usage.js';
import { intOption } from './options.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

export async function analyze(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tolerance: { type: 'string' }, json: { type: 'boolean' }, ...TARGET_OPTIONS },
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('analyze needs a prompt');
  const tolerance = intOption(values.tolerance, 'tolerance', 0, 6);
  const client = clientFor(resolveTarget(values, loadCliConfig()));
  const result = await client.analyze({
    prompt,
    ...(tolerance === undefined ? {} : { safety_tolerance: tolerance }),
  });
  const { allowed, category, safety_tolerance } = result.moderation;
  if (values.json) out(JSON.stringify(result, null, 2));
  else {
    out(
      allowed
        ? `allowed at safety_tolerance ${safety_tolerance}`
        : `refused at safety_tolerance ${safety_tolerance}: ${category ?? 'policy'}`,
    );
    for (const [part, value] of Object.entries(result.analysis)) {
      const text = Array.isArray(value) ? value.map(String).join(', ') : JSON.stringify(value);
      out(`${part.padEnd(12)} ${text || '-'}`);
    }
    for (const w of result.warnings) out(`warning ${w.code}: ${w.message}`);
  }
  if (!allowed)
    throw new CommandError(`content_policy_violation: the prompt would be refused (${category ?? 'policy'})`);
}
