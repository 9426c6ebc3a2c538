import { describe, expect, it } from 'vitest';

import { normalizeForModeration } from '@imagegen/prompt';

describe('normalizeForModeration', () => {
  it.each([
    ['case', 'NuDe Art', ['nude', 'art']],
    ['fullwidth letters', 'Ｎｕｄｅ', ['nude']],
    ['mathematical bold', '𝐧𝐮𝐝𝐞', ['nude']],
    ['circled letters', 'ⓝⓤⓓⓔ', ['nude']],
    ['ligatures', 'ﬁne ﬂowers', ['fine', 'flowers']],
    ['Cyrillic look-alikes', 'nаkеd', ['naked']],
    ['Greek look-alikes', 'gοrε', ['gore']],
    ['small capitals', 'ɢᴏʀᴇ', ['gore']],
    ['diacritics', 'nüdé', ['nude']],
    ['combining overlay', 'na\u0336ked', ['naked']],
    ['zero-width characters', 'n\u200bu\u200cd\u200de\ufeff', ['nude']],
    ['bidi marks', '\u202enude\u202c', ['nude']],
    ['leetspeak', 'k1ll3d', ['killed']],
    ['leet symbols', '$3xy @ss', ['sexy', 'ass']],
    ['dotted separators', 'n.u.d.e', ['nude']],
    ['dashed separators', 'n-u-d-e', ['nude']],
    ['spaced letters', 'n u d e woman', ['nude', 'woman']],
    ['starred letters', 'g*o*r*e', ['gore']],
    ['apostrophes', "don't", ['dont']],
    ['trailing exclamation marks', 'wow!!', ['wow']],
    ['years stay numbers', 'in 1944', ['in', '1944']],
  ])('handles %s', (_name, input, expected) => {
    expect(normalizeForModeration(input)).toEqual(expected);
  });

  it('returns [] for empty, whitespace-only and symbol-only input', () => {
    expect(normalizeForModeration('')).toEqual([]);
    expect(normalizeForModeration(' \t\n ')).toEqual([]);
    expect(normalizeForModeration('🌅🌊 — …')).toEqual([]);
  });
});
