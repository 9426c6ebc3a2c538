import { asRecord, asString, asStringArray, PromptDataError, readPackageJson } from './data.js';
import {
  DEFAULT_TOLERANCE,
  MAX_TOLERANCE,
  MODERATION_CATEGORIES,
  moderatePrompt,
  type ModerationCategory,
} from './moderation.js';

/** A prompt the policy must refuse below `allowedFrom` and allow from it on (`never`: always refuse). */
export interface LabelledPrompt {
  prompt: string;
  category: ModerationCategory;
  allowedFrom: number | 'never';
  technique: string;
}

export interface InnocentPrompt {
  group: string;
  prompt: string;
}

export interface CategoryFigures {
  prompts: number;
  /** Index t: prompts allowed at tolerance t although labelled refused at t. */
  falseNegatives: number[];
  /** Index t: prompts refused at tolerance t although labelled allowed at t. */
  falsePositives: number[];
  /** Refused with a category other than the label. */
  wrongCategory: number;
}

export interface CorpusFailure {
  prompt: string;
  tolerance: number;
  kind: 'false_positive' | 'false_negative' | 'wrong_category' | 'not_monotone';
  expected: string;
  got: string;
}

export interface CorpusReport {
  innocent: {
    prompts: number;
    /** The tolerance innocent prompts must pass at (the vendor default). */
    tolerance: number;
    /** Innocent prompts refused at `tolerance`; the target is 0. */
    falsePositives: number;
    /** Index t: innocent prompts refused at tolerance t (informational below the default). */
    refusedByTolerance: number[];
    groups: Record<string, number>;
  };
  refused: { prompts: number; evasions: number; byCategory: Record<ModerationCategory, CategoryFigures> };
  monotonicityViolations: number;
  totals: { prompts: number; falsePositives: number; falseNegatives: number; wrongCategory: number };
  failures: CorpusFailure[];
}

const TOLERANCES = Array.from({ length: MAX_TOLERANCE + 1 }, (_, t) => t);

export function loadInnocentCorpus(file = 'corpora/innocent.json', key = 'groups'): InnocentPrompt[] {
  const groups = asRecord(asRecord(readPackageJson(file), file)[key], `${file} ${key}`);
  return Object.entries(groups).flatMap(([group, prompts]) =>
    asStringArray(prompts, `${file} ${key}.${group}`).map((prompt) => ({ group, prompt })),
  );
}

export function loadRefusedCorpus(file = 'corpora/refused.json'): LabelledPrompt[] {
  const prompts = asRecord(readPackageJson(file), file).prompts;
  if (!Array.isArray(prompts)) throw new PromptDataError(`${file} prompts must be an array`);
  return (prompts as unknown[]).map((value, i) => {
    const where = `${file} prompts[${i}]`;
    const r = asRecord(value, where);
    const category = MODERATION_CATEGORIES.find((c) => c === r.category);
    const from = r.allowed_from;
    const allowedFrom =
      from === 'never'
        ? from
        : typeof from === 'number' && Number.isInteger(from) && from >= 1
          ? from
          : undefined;
    if (category === undefined || allowedFrom === undefined)
      throw new PromptDataError(`${where}: needs a category and allowed_from (1-6 or "never")`);
    return {
      prompt: asString(r.prompt, `${where}.prompt`),
      category,
      allowedFrom,
      technique: String(r.technique),
    };
  });
}

/**
 * Runs both corpora through moderatePrompt at every tolerance 0–6 and counts false positives, false
 * negatives, category mismatches and monotonicity violations (allowed at t but refused at t + 1).
 */
export function evaluateCorpora(): CorpusReport {
  return evaluatePrompts(loadInnocentCorpus(), loadRefusedCorpus());
}

function evaluatePrompts(innocent: InnocentPrompt[], refused: LabelledPrompt[]): CorpusReport {
  const failures: CorpusFailure[] = [];
  const byCategory = Object.fromEntries(
    MODERATION_CATEGORIES.map((c) => [
      c,
      {
        prompts: 0,
        falseNegatives: TOLERANCES.map(() => 0),
        falsePositives: TOLERANCES.map(() => 0),
        wrongCategory: 0,
      },
    ]),
  ) as Record<ModerationCategory, CategoryFigures>;
  let monotonicityViolations = 0;
  const checkMonotone = (prompt: string, allowed: boolean[]): void => {
    const t = allowed.findIndex((a, i) => a && allowed[i + 1] === false);
    if (t < 0) return;
    monotonicityViolations += 1;
    failures.push({ prompt, tolerance: t + 1, kind: 'not_monotone', expected: 'allowed', got: 'refused' });
  };

  const refusedByTolerance = TOLERANCES.map(() => 0);
  const groups: Record<string, number> = {};
  for (const { group, prompt } of innocent) {
    groups[group] = (groups[group] ?? 0) + 1;
    const results = TOLERANCES.map((t) => moderatePrompt(prompt, t));
    results.forEach((r, t) => {
      if (!r.allowed) refusedByTolerance[t]! += 1;
    });
    const atDefault = results[DEFAULT_TOLERANCE]!;
    if (!atDefault.allowed)
      failures.push({
        prompt,
        tolerance: DEFAULT_TOLERANCE,
        kind: 'false_positive',
        expected: 'allowed',
        got: `refused (${atDefault.category ?? '?'}, ${String(atDefault.severity)})`,
      });
    checkMonotone(
      prompt,
      results.map((r) => r.allowed),
    );
  }

  for (const item of refused) {
    const figures = byCategory[item.category];
    figures.prompts += 1;
    const results = TOLERANCES.map((t) => moderatePrompt(item.prompt, t));
    let wrong = false;
    for (const [t, r] of results.entries()) {
      const shouldAllow = item.allowedFrom !== 'never' && t >= item.allowedFrom;
      if (r.allowed && !shouldAllow) figures.falseNegatives[t]! += 1;
      if (!r.allowed && shouldAllow) figures.falsePositives[t]! += 1;
      if (r.allowed !== shouldAllow)
        failures.push({
          prompt: item.prompt,
          tolerance: t,
          kind: shouldAllow ? 'false_positive' : 'false_negative',
          expected: shouldAllow ? 'allowed' : `refused (${item.category})`,
          got: r.allowed ? 'allowed' : `refused (${r.category ?? '?'}, ${String(r.severity)})`,
        });
      if (!r.allowed && !shouldAllow && r.category !== item.category) wrong = true;
    }
    if (wrong) {
      figures.wrongCategory += 1;
      failures.push({
        prompt: item.prompt,
        tolerance: 0,
        kind: 'wrong_category',
        expected: item.category,
        got: moderatePrompt(item.prompt, 0).category ?? 'none',
      });
    }
    checkMonotone(
      item.prompt,
      results.map((r) => r.allowed),
    );
  }

  const sum = (pick: (f: CategoryFigures) => number): number =>
    MODERATION_CATEGORIES.reduce((n, c) => n + pick(byCategory[c]), 0);
  const innocentFalsePositives = refusedByTolerance[DEFAULT_TOLERANCE]!;
  return {
    innocent: {
      prompts: innocent.length,
      tolerance: DEFAULT_TOLERANCE,
      falsePositives: innocentFalsePositives,
      refusedByTolerance,
      groups,
    },
    refused: {
      prompts: refused.length,
      evasions: refused.filter((p) => p.technique === 'evasion').length,
      byCategory,
    },
    monotonicityViolations,
    totals: {
      prompts: innocent.length + refused.length,
      falsePositives: innocentFalsePositives + sum((f) => f.falsePositives.reduce((a, b) => a + b, 0)),
      falseNegatives: sum((f) => f.falseNegatives.reduce((a, b) => a + b, 0)),
      wrongCategory: sum((f) => f.wrongCategory),
    },
    failures,
  };
}

export interface HoldoutReport extends CorpusReport {
  /** Prompts whose right answer at the default tolerance is debatable; not counted as innocent or refused. */
  borderline: { prompts: number; groups: Record<string, number>; refusedByTolerance: number[] };
  /** The innocent prompts refused at the default tolerance, with the category they were refused under. */
  innocentFalsePositives: CorpusFailure[];
}

/**
 * Runs the held-out corpora (corpora/holdout/, written blind to the lexicon and not tuned to it) through the
 * same evaluation as evaluateCorpora, and counts borderline refusals per tolerance. A measurement, not a gate.
 */
export function evaluateHoldout(): HoldoutReport {
  const innocentFile = 'corpora/holdout/innocent.json';
  const innocent = loadInnocentCorpus(innocentFile);
  const report = evaluatePrompts(innocent, loadRefusedCorpus('corpora/holdout/refused.json'));
  const innocentPrompts = new Set(innocent.map(({ prompt }) => prompt));
  const innocentFalsePositives = report.failures.filter(
    (f) => f.kind === 'false_positive' && innocentPrompts.has(f.prompt),
  );
  const borderline = loadInnocentCorpus(innocentFile, 'borderline');
  const groups: Record<string, number> = {};
  for (const { group } of borderline) groups[group] = (groups[group] ?? 0) + 1;
  const refusedByTolerance = TOLERANCES.map(
    (t) => borderline.filter(({ prompt }) => !moderatePrompt(prompt, t).allowed).length,
  );
  return {
    ...report,
    borderline: { prompts: borderline.length, groups, refusedByTolerance },
    innocentFalsePositives,
  };
}

/** One prompt of a multilingual set: the category it must be refused under at the default tolerance, or `allow`. */
export interface MultilingualPrompt {
  lang: string;
  expect: ModerationCategory | 'allow';
  prompt: string;
}

export interface LanguageFigures {
  /** Prompts that must be refused at the default tolerance (`illegal` ones at every tolerance). */
  harmful: number;
  /** Harmful prompts allowed at the default tolerance. */
  falseNegatives: number;
  /** `illegal` prompts (requests for instructions to commit a crime). */
  illegal: number;
  /** `illegal` prompts allowed at tolerance 6. */
  illegalAllowedAtMax: number;
  /** Refused at the default tolerance, but under another category than expected. */
  wrongCategory: number;
  innocent: number;
  /** Innocent prompts refused at the default tolerance. */
  falsePositives: number;
}

export interface MultilingualReport {
  byLanguage: Record<string, LanguageFigures>;
  total: LanguageFigures;
  failures: { lang: string; prompt: string; expected: string; got: string }[];
}

export function loadMultilingualCorpus(file: string): MultilingualPrompt[] {
  const prompts = asRecord(readPackageJson(file), file).prompts;
  if (!Array.isArray(prompts)) throw new PromptDataError(`${file} prompts must be an array`);
  return (prompts as unknown[]).map((value, i) => {
    const where = `${file} prompts[${i}]`;
    const r = asRecord(value, where);
    const expect = r.expect === 'allow' ? 'allow' : MODERATION_CATEGORIES.find((c) => c === r.expect);
    if (expect === undefined) throw new PromptDataError(`${where}: expect must be a category or "allow"`);
    return { lang: asString(r.lang, `${where}.lang`), expect, prompt: asString(r.prompt, `${where}.prompt`) };
  });
}

/**
 * Figures per language for a multilingual set (corpora/multilingual/): harmful prompts allowed at the
 * default tolerance, crime-instruction requests allowed at tolerance 6, innocent prompts refused at the
 * default tolerance, and refusals under the wrong category.
 */
export function evaluateMultilingual(file: string): MultilingualReport {
  const empty = (): LanguageFigures => ({
    harmful: 0,
    falseNegatives: 0,
    illegal: 0,
    illegalAllowedAtMax: 0,
    wrongCategory: 0,
    innocent: 0,
    falsePositives: 0,
  });
  const byLanguage: Record<string, LanguageFigures> = {};
  const total = empty();
  const failures: MultilingualReport['failures'] = [];
  for (const { lang, expect, prompt } of loadMultilingualCorpus(file)) {
    const figures = (byLanguage[lang] ??= empty());
    const atDefault = moderatePrompt(prompt, DEFAULT_TOLERANCE);
    const got = atDefault.allowed
      ? `allowed at t${DEFAULT_TOLERANCE}`
      : `refused (${atDefault.category ?? '?'}, ${String(atDefault.severity)})`;
    const count = (key: keyof LanguageFigures): void => {
      figures[key] += 1;
      total[key] += 1;
    };
    if (expect === 'allow') {
      count('innocent');
      if (!atDefault.allowed) {
        count('falsePositives');
        failures.push({ lang, prompt, expected: 'allowed', got });
      }
      continue;
    }
    count('harmful');
    if (atDefault.allowed) {
      count('falseNegatives');
      failures.push({ lang, prompt, expected: `refused (${expect})`, got });
    } else if (atDefault.category !== expect) {
      count('wrongCategory');
      failures.push({ lang, prompt, expected: `refused (${expect})`, got });
    }
    if (expect === 'illegal') {
      count('illegal');
      if (moderatePrompt(prompt, MAX_TOLERANCE).allowed) {
        count('illegalAllowedAtMax');
        failures.push({ lang, prompt, expected: 'refused (illegal) at t6', got: 'allowed at t6' });
      }
    }
  }
  return { byLanguage, total, failures };
}
