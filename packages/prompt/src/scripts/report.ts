/**
 * Prints the moderation corpus figures: node --import tsx packages/prompt/src/scripts/report.ts
 * Exits 1 when any false positive, false negative, category mismatch or monotonicity violation exists
 * in the main corpora. The held-out section (corpora/holdout/) is a measurement only: it never sets the exit code.
 */
import { evaluateHoldout } from '../corpus.js';
import { DEFAULT_TOLERANCE, evaluateCorpora, MODERATION_CATEGORIES, type CorpusReport } from '../index.js';

const report = evaluateCorpora();
const pad = (value: string | number, width: number): string => String(value).padStart(width);
const row = (label: string, counts: number[]): string =>
  `${label.padEnd(24)}${counts.map((n) => pad(n, 5)).join('')}`;

const header = `${''.padEnd(24)}${[0, 1, 2, 3, 4, 5, 6].map((n) => pad(`t${n}`, 5)).join('')}`;

/** The refused-prompt table per category, then monotonicity and totals: the same for both corpora. */
function refusedSection(r: CorpusReport): string[] {
  const out = [`refused prompts: ${r.refused.prompts} (${r.refused.evasions} evasion variants)`, header];
  for (const category of MODERATION_CATEGORIES) {
    const f = r.refused.byCategory[category];
    out.push(`${category} (${f.prompts} prompts, wrong category: ${f.wrongCategory})`);
    out.push(row('  false negatives', f.falseNegatives));
    out.push(row('  false positives', f.falsePositives));
  }
  out.push(`monotonicity violations: ${r.monotonicityViolations}`);
  const t = r.totals;
  out.push(
    `totals: ${t.prompts} prompts, ${t.falsePositives} false positives, ${t.falseNegatives} false negatives, ${t.wrongCategory} wrong categories`,
  );
  return out;
}

const lines: string[] = [];
lines.push(
  `innocent prompts: ${report.innocent.prompts} in ${Object.keys(report.innocent.groups).length} groups`,
);
lines.push(
  `  false positives at tolerance ${report.innocent.tolerance} (default): ${report.innocent.falsePositives}`,
);
lines.push(row('  refused at tolerance', report.innocent.refusedByTolerance));
lines.push(...refusedSection(report));
for (const f of report.failures)
  lines.push(
    `  ${f.kind} at t${f.tolerance}: ${JSON.stringify(f.prompt)} expected ${f.expected}, got ${f.got}`,
  );

const holdout = evaluateHoldout();
lines.push('');
lines.push('held-out corpus (written blind to the lexicon; not tuned)');
lines.push(
  `innocent prompts: ${holdout.innocent.prompts} in ${Object.keys(holdout.innocent.groups).length} groups`,
);
lines.push(
  `  false positives at tolerance ${holdout.innocent.tolerance} (default): ${holdout.innocent.falsePositives}`,
);
lines.push(header);
lines.push(row('  refused at tolerance', holdout.innocent.refusedByTolerance));
for (const f of holdout.innocentFalsePositives)
  lines.push(`  false positive: ${JSON.stringify(f.prompt)} ${f.got}`);
lines.push(
  `borderline prompts (not counted): ${holdout.borderline.prompts} in ${Object.keys(holdout.borderline.groups).length} groups`,
);
lines.push(row('  refused at tolerance', holdout.borderline.refusedByTolerance));
lines.push(...refusedSection(holdout));
for (const f of holdout.failures)
  if (f.tolerance === DEFAULT_TOLERANCE && f.kind === 'false_negative')
    lines.push(`  allowed at t${f.tolerance}: ${JSON.stringify(f.prompt)} expected ${f.expected}`);
process.stdout.write(`${lines.join('\n')}\n`);
const t = report.totals;
const clean = t.falsePositives + t.falseNegatives + t.wrongCategory + report.monotonicityViolations === 0;
process.exitCode = clean ? 0 : 1;
