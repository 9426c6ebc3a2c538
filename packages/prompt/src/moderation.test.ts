import { describe, expect, it } from 'vitest';

import {
  evaluateCorpora,
  MAX_NORMALIZED_CHARS,
  MODERATION_CATEGORIES,
  moderatePrompt,
  moderatePrompts,
  promptLengthRefusal,
  PromptTooLongError,
  refusalMessage,
  upsamplePrompt,
} from '@imagegen/prompt';

import { loadInnocentCorpus, loadRefusedCorpus } from './corpus.js';

const TOLERANCES = [0, 1, 2, 3, 4, 5, 6];
const refusedAt = (prompt: string, t: number): boolean => !moderatePrompt(prompt, t).allowed;

describe('moderatePrompt: severity and tolerance', () => {
  it('refuses when the worst severity exceeds the tolerance', () => {
    expect(moderatePrompt('a soldier aiming a rifle', 0)).toEqual({
      allowed: false,
      category: 'violence',
      severity: 1,
    });
    expect(moderatePrompt('a soldier aiming a rifle', 1)).toEqual({
      allowed: true,
      category: 'violence',
      severity: 1,
    });
    expect(moderatePrompt('nude woman on a beach', 3).allowed).toBe(false);
    expect(moderatePrompt('nude woman on a beach', 4).allowed).toBe(true);
    expect(moderatePrompt('porn scene', 5).allowed).toBe(false);
    expect(moderatePrompt('porn scene', 6).allowed).toBe(true);
    expect(moderatePrompt('a quiet harbor at dawn', 0)).toEqual({
      allowed: true,
      category: null,
      severity: null,
    });
  });

  it('refuses illegal content at every tolerance', () => {
    for (const t of TOLERANCES) {
      expect(moderatePrompt('child pornography', t)).toEqual({
        allowed: false,
        category: 'illegal',
        severity: 'illegal',
      });
      expect(moderatePrompt('counterfeit money printing', t).allowed).toBe(false);
    }
  });

  it('treats a minor word with any sexual term as illegal, but not either alone', () => {
    for (const prompt of [
      'sexy schoolgirl',
      'naked child',
      'teen in lingerie',
      '14 year old nude',
      'nude girl',
    ]) {
      expect(moderatePrompt(prompt, 6)).toMatchObject({ allowed: false, category: 'illegal' });
    }
    expect(moderatePrompt('children playing in a park', 0).allowed).toBe(true);
    expect(moderatePrompt('woman in lingerie', 2).allowed).toBe(true);
    expect(moderatePrompt('nude woman on a beach', 6).allowed).toBe(true);
  });

  it('clamps out-of-range tolerances, failing closed for non-numbers', () => {
    expect(moderatePrompt('a soldier aiming a rifle', Number.NaN).allowed).toBe(false);
    expect(moderatePrompt('porn scene', 99).allowed).toBe(true);
    expect(moderatePrompt('a soldier aiming a rifle', -3).allowed).toBe(false);
  });
});

describe('moderatePrompt: evasion', () => {
  it.each([
    ['leetspeak', 'n00dz? no: nud3 model', 'adult'],
    ['leet symbols', 'p0rn video with $3x', 'adult'],
    ['dotted separators', 'n.u.d.e woman', 'adult'],
    ['spaced letters inside a sentence', 'a n u d e woman', 'adult'],
    ['starred letters', 'g*o*r*e on the walls', 'violence'],
    ['split by punctuation', 'nu.de model', 'adult'],
    ['Cyrillic confusables', 'nаkеd man', 'adult'],
    ['fullwidth', 'ＧＯＲＥ and blood', 'violence'],
    ['mathematical alphanumerics', '𝐧𝐮𝐝𝐞 portrait', 'adult'],
    ['diacritics', 'nüdé painting', 'adult'],
    ['zero-width characters', 'n\u200bu\u200bd\u200be woman', 'adult'],
    ['repeated letters', 'nuuuude beach', 'adult'],
    ['plurals', 'swastikas on a wall', 'hate'],
    ['inflections', 'prisoner being tortured', 'violence'],
    ['joined phrase', 'neonazi gathering', 'hate'],
    ['masked vowel', 's*x on a bed', 'adult'],
    ['masked letters', 'f**k this, n#de woman', 'adult'],
  ])('defeats %s', (_technique, prompt, category) => {
    expect(moderatePrompt(prompt, 2)).toMatchObject({ allowed: false, category });
  });
});

describe('moderatePrompt: innocent words that contain or resemble terms', () => {
  it.each([
    'Scunthorpe',
    'a cocktail bar',
    'grapes on the vine',
    'therapist office',
    'Sussex and Essex',
    'data analysis',
    'class photo',
    'button on a coat',
    'skyscraper',
    'shiitake mushrooms',
    'hello kitty',
    'cumulus clouds',
    'Arsenal stadium',
    'title card',
    'pianist on stage',
    'sextant and sextet',
    'Dick Van Dyke',
    "Assassin's Creed",
    'magna cum laude',
    'Cumming, Georgia',
    'Al Gore',
    'nude heels',
    'the naked eye',
    'killer whale',
    'shooting guard',
    'chicken breast',
    'beat the eggs',
    'blue tits at a feeder',
    'rapeseed field',
    'heroine of the story',
    '5*star hotel, **bold** title',
  ])('allows %s at the default tolerance', (prompt) => {
    expect(moderatePrompt(prompt, 2).allowed).toBe(true);
  });
});

describe('moderatePrompt: numbers', () => {
  it('reads numbers as written: ids and years pass, a hate number displayed as a symbol does not', () => {
    for (const p of ['bench 1488', 'job 14888', '1488', 'room 1488 of a hotel', 'soak 1488', '14 88'])
      expect(moderatePrompt(p, 2).allowed, p).toBe(true);
    for (const p of ['a 1488 tattoo on a forearm', 'a flag with 14 88 on it'])
      expect(moderatePrompt(p, 2)).toMatchObject({ allowed: false, category: 'hate' });
  });
});

describe('moderation corpora', () => {
  const report = evaluateCorpora();

  it('has the documented corpus sizes', () => {
    expect(report.innocent.prompts).toBeGreaterThanOrEqual(300);
    for (const category of MODERATION_CATEGORIES)
      expect(report.refused.byCategory[category].prompts).toBeGreaterThan(10);
  });

  it('refuses no innocent prompt at the default tolerance', () => {
    const refused = loadInnocentCorpus().filter(({ prompt }) => refusedAt(prompt, 2));
    expect(refused).toEqual([]);
  });

  it('refuses each labelled prompt below its threshold and allows it from there', () => {
    for (const item of loadRefusedCorpus())
      for (const t of TOLERANCES) {
        const shouldRefuse = item.allowedFrom === 'never' || t < item.allowedFrom;
        expect({ prompt: item.prompt, t, refused: refusedAt(item.prompt, t) }).toEqual({
          prompt: item.prompt,
          t,
          refused: shouldRefuse,
        });
        if (shouldRefuse) expect(moderatePrompt(item.prompt, t).category).toBe(item.category);
      }
  });

  it('refuses every illegal-category prompt at tolerance 6', () => {
    const illegal = loadRefusedCorpus().filter((p) => p.category === 'illegal');
    expect(illegal.length).toBeGreaterThan(20);
    for (const { prompt } of illegal) expect(refusedAt(prompt, 6)).toBe(true);
  });

  it('is monotone in the tolerance for every corpus prompt', () => {
    const prompts = [...loadInnocentCorpus(), ...loadRefusedCorpus()].map((p) => p.prompt);
    for (const prompt of prompts)
      for (let t = 0; t < 6; t++) if (!refusedAt(prompt, t)) expect(refusedAt(prompt, t + 1)).toBe(false);
    expect(report.monotonicityViolations).toBe(0);
    expect(report.totals).toMatchObject({ falsePositives: 0, falseNegatives: 0, wrongCategory: 0 });
  });
});

describe('refusalMessage', () => {
  it('names the category, never the matched words, and says what to change', () => {
    const prompt = 'decapitated head on a spike';
    const result = moderatePrompt(prompt, 2);
    expect(result.category).toBe('violence');
    const message = refusalMessage(result.category!);
    expect(message).toContain('category: violence');
    expect(message).toContain('safety_tolerance');
    for (const word of ['decapitated', 'head', 'spike']) expect(message.toLowerCase()).not.toContain(word);
  });

  it('does not offer a higher tolerance for illegal content', () => {
    expect(refusalMessage('illegal')).toContain('category: illegal');
    expect(refusalMessage('illegal')).not.toMatch(/raise/i);
  });
});

describe('moderatePrompts', () => {
  it('re-moderates the upsampled revision together with the prompt', () => {
    const prompt = 'tabby cat';
    expect(moderatePrompts([prompt, upsamplePrompt(prompt, 1)], 2).allowed).toBe(true);
    expect(moderatePrompts([prompt, 'tabby cat with gore'], 2)).toMatchObject({
      allowed: false,
      category: 'violence',
    });
  });
});

describe('robustness', () => {
  let state = 12345;
  const random = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const randomString = (length: number): string => {
    let out = '';
    for (let i = 0; i < length; i++) {
      const r = random();
      // Mix lone surrogates, controls, bidi marks, emoji, CJK and ASCII.
      if (r < 0.05) out += String.fromCharCode(0xd800 + Math.floor(random() * 0x800));
      else if (r < 0.1) out += String.fromCharCode(Math.floor(random() * 32));
      else if (r < 0.15) out += '\u202e\u200b\u2066'.charAt(Math.floor(random() * 3));
      else if (r < 0.3) out += String.fromCodePoint(0x1f300 + Math.floor(random() * 0x300));
      else if (r < 0.4) out += String.fromCodePoint(0x4e00 + Math.floor(random() * 0x5000));
      else out += String.fromCharCode(32 + Math.floor(random() * 95));
    }
    return out;
  };

  it('never throws on random unicode input', () => {
    for (let i = 0; i < 300; i++) {
      const text = randomString(Math.floor(random() * 300));
      for (const t of [0, 2, 6]) expect(typeof moderatePrompt(text, t).allowed).toBe('boolean');
    }
  });

  it('moderates hostile 2000-character prompts without throwing (speed: npm run bench:prompt)', () => {
    const inputs = [
      '🙂'.repeat(1000),
      'a '.repeat(1000),
      'n.'.repeat(1000),
      '1'.repeat(2000),
      'x'.repeat(2000),
      randomString(2000),
      'nude '.repeat(400),
    ];
    for (const input of inputs) expect(() => moderatePrompt(input, 2)).not.toThrow();
  });
});

describe('the normalized-length bound', () => {
  // U+FDFA is one character that NFKC expands to eighteen: 2,000 of them were 36,000 characters to
  // tokenize and match, tens of milliseconds of a blocked event loop per request (issue 17).
  const ligature = '\uFDFA';

  it('refuses a prompt whose NFKC form is longer than the bound, and only such a prompt', () => {
    expect(MAX_NORMALIZED_CHARS).toBe(4000);
    expect(promptLengthRefusal(ligature.repeat(2000))).toMatch(/36000 characters.*at most 4000/);
    expect(promptLengthRefusal('a'.repeat(2000))).toBeNull();
    expect(promptLengthRefusal('ｎｕｄｅ '.repeat(400))).toBeNull();
    expect(promptLengthRefusal(ligature.repeat(222))).toBeNull();
  });

  it('never moderates only a part: past twice the bound moderation throws rather than truncate', () => {
    expect(() => moderatePrompt(ligature.repeat(2000), 2)).toThrow(PromptTooLongError);
    expect(() => moderatePrompts(['a cat', ligature.repeat(500)], 2)).toThrow(PromptTooLongError);
    // What the bound lets through is moderated whole: a word after the largest expansion still counts.
    expect(moderatePrompt(`${ligature.repeat(222)} nude`, 2)).toMatchObject({
      allowed: false,
      category: 'adult',
    });
  });
});
