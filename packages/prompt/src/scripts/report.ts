/**
 * Prints the moderation corpus figures: node --import tsx packages/prompt/src/scripts/report.ts
 * Exits 1 when any false positive, false negative, category mismatch or monotonicity violation exists
 * in the main corpora or the multilingual tuning set. The held-out sections (corpora/holdout/ and
 * corpora/multilingual/holdout.json) are measurements only: they never set the exit code.
 */
import { evaluateHoldout, evaluateMultilingual, type MultilingualReport } from '../corpus.js';
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

/** Per-language table of a multilingual set (corpora/multilingual/). */
function multilingualSection(title: string, r: MultilingualReport): string[] {
  const cols = ['harmful', 'FN t2', 'illegal', 'FN t6', 'wrong cat', 'innocent', 'FP t2'];
  const out = [title, `${'language'.padEnd(10)}${cols.map((c) => c.padStart(10)).join('')}`];
  const rowOf = (label: string, f: MultilingualReport['total']): string =>
    `${label.padEnd(10)}${[
      f.harmful,
      f.falseNegatives,
      f.illegal,
      f.illegalAllowedAtMax,
      f.wrongCategory,
      f.innocent,
      f.falsePositives,
    ]
      .map((n) => pad(n, 10))
      .join('')}`;
  for (const [lang, f] of Object.entries(r.byLanguage)) out.push(rowOf(lang, f));
  out.push(rowOf('total', r.total));
  for (const f of r.failures)
    out.push(`  [${f.lang}] ${JSON.stringify(f.prompt)} expected ${f.expected}, got ${f.got}`);
  return out;
}

const tuning = evaluateMultilingual('corpora/multilingual/tuning.json');
lines.push('');
lines.push(
  ...multilingualSection(
    'multilingual tuning set (corpora/multilingual/tuning.json; the rules were tuned on it)',
    tuning,
  ),
);
lines.push('');
lines.push(
  ...multilingualSection(
    'multilingual held-out set (corpora/multilingual/holdout.json; written blind, never tuned on)',
    evaluateMultilingual('corpora/multilingual/holdout.json'),
  ),
);
lines.push('');
lines.push(
  ...multilingualSection(
    'second multilingual held-out set (corpora/multilingual/holdout-2.json; written before the second tuning round, never tuned on)',
    evaluateMultilingual('corpora/multilingual/holdout-2.json'),
  ),
);
process.stdout.write(`${lines.join('\n')}\n`);
const t = report.totals;
const clean =
  t.falsePositives +
    t.falseNegatives +
    t.wrongCategory +
    report.monotonicityViolations +
    tuning.failures.length ===
  0;
process.exitCode = clean ? 0 : 1;
