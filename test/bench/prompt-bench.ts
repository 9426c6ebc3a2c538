/**
 * `npm run bench:prompt`: time per call of each prompt function on ordinary and hostile 2000-character
 * prompts, against a baseline run in the same process — NFKC + lower-case + whitespace split, the least
 * work any word-level moderation must do.
 */
import {
  analyzePrompt,
  lintPrompt,
  MAX_NORMALIZED_CHARS,
  moderatePrompt,
  promptLengthRefusal,
  upsamplePrompt,
} from '@imagegen/prompt';

/** U+FDFA: one character, eighteen after NFKC — the largest expansion Unicode has. */
const LIGATURE = '\uFDFA';
const LARGEST_ACCEPTED = LIGATURE.repeat(Math.floor(MAX_NORMALIZED_CHARS / 18));

const INPUTS: Record<string, string> = {
  'vendor example (79 chars)':
    'A golden retriever puppy playing in a meadow, soft lighting, photorealistic, 8k',
  'ordinary text (2000 chars)': 'a lighthouse on a rocky coast at dusk, watercolor, '
    .repeat(40)
    .slice(0, 2000),
  'emoji (2000 chars)': '🙂'.repeat(1000),
  'spaced letters (2000 chars)': 'n u d e '.repeat(250),
  'dotted letters (2000 chars)': 'n.'.repeat(1000),
  'one long word (2000 chars)': 'x'.repeat(2000),
  'leet digits (2000 chars)': '1'.repeat(2000),
  'confusables (2000 chars)': 'ѕех '.repeat(500),
  'repeated term (2000 chars)': 'nude '.repeat(400),
  [`U+FDFA × ${LARGEST_ACCEPTED.length} (${LARGEST_ACCEPTED.length * 18} after NFKC, the most accepted)`]:
    LARGEST_ACCEPTED,
};

function perCallUs(fn: () => unknown): number {
  for (let i = 0; i < 20; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < 7; r++) {
    const n = 50;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
  }
  return samples.sort((a, b) => a - b)[3]!;
}

const rows: string[][] = [
  ['input', 'baseline µs', 'moderate µs', '×', 'analyze µs', 'lint µs', 'upsample µs'],
];
for (const [name, text] of Object.entries(INPUTS)) {
  const base = perCallUs(() => text.normalize('NFKC').toLowerCase().split(/\s+/));
  const mod = perCallUs(() => moderatePrompt(text, 2));
  rows.push([
    name,
    base.toFixed(1),
    mod.toFixed(1),
    (mod / base).toFixed(1),
    perCallUs(() => analyzePrompt(text)).toFixed(1),
    perCallUs(() => lintPrompt(text)).toFixed(1),
    perCallUs(() => upsamplePrompt(text, 7)).toFixed(1),
  ]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows)
  console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
console.log('\nmedian of 7 runs × 50 calls each; × = moderate / baseline in this process');

// The worst case of NFKC expansion: 2,000 × U+FDFA is 36,000 characters after NFKC. The API refuses it
// before moderating (promptLengthRefusal, one NFKC pass); the most the bound lets through is moderated.
const refused = LIGATURE.repeat(2000);
const worst: [string, string, () => unknown][] = [
  ['2000 × U+FDFA: refused by the bound', refused, () => promptLengthRefusal(refused)],
  [
    `${LARGEST_ACCEPTED.length} × U+FDFA: moderated`,
    LARGEST_ACCEPTED,
    () => moderatePrompt(LARGEST_ACCEPTED, 2),
  ],
];
console.log(`\nNFKC expansion worst case (bound: ${MAX_NORMALIZED_CHARS} characters after NFKC)`);
for (const [name, text, fn] of worst) {
  const base = perCallUs(() => text.normalize('NFKC').toLowerCase().split(/\s+/)) / 1000;
  const ms = perCallUs(fn) / 1000;
  console.log(
    `  ${name.padEnd(38)} ${ms.toFixed(3)} ms  baseline ${base.toFixed(3)} ms  × ${(ms / base).toFixed(1)}`,
  );
}
