import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { BYTE_TO_UNICODE, ClipTokenizer, parseMerges } from './clip.js';

/**
 * A CLIP-format vocabulary built the way OpenAI's is: the 256 byte symbols in `bytes_to_unicode` order
 * (printable bytes first), the same with `</w>`, one entry per merge, then the two special tokens.
 */
function buildVocab(merges: string[]): Record<string, number> {
  const printable = [...Array(256).keys()].filter(
    (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff),
  );
  const order = [...printable, ...[...Array(256).keys()].filter((b) => !printable.includes(b))];
  const base = order.map((b) => BYTE_TO_UNICODE[b]!);
  const tokens = [
    ...base,
    ...base.map((t) => `${t}</w>`),
    ...merges.map((m) => m.replace(' ', '')),
    '<|startoftext|>',
    '<|endoftext|>',
  ];
  return Object.fromEntries(tokens.map((t, i) => [t, i]));
}

const MERGES = ['h e', 'l l', 'he ll', 'hell o</w>', 'c a', 'ca t</w>'];
const vocab = buildVocab(MERGES);
const tok = new ClipTokenizer({ vocab, merges: MERGES });
const BOS = vocab['<|startoftext|>']!;
const EOS = vocab['<|endoftext|>']!;

describe('CLIP BPE tokenizer (on a vocabulary built by the test)', () => {
  it('lays the byte alphabet out like CLIP: "a" is 64 and "a</w>" is 320', () => {
    expect(vocab['a']).toBe(64);
    expect(vocab['a</w>']).toBe(320);
    expect(vocab['!']).toBe(0);
  });

  it('merges by rank and marks word ends with </w>', () => {
    expect(tok.tokenize('hello')).toEqual(['hello</w>']);
    expect(tok.tokenize('hell')).toEqual(['he', 'l', 'l</w>']);
    expect(tok.tokenize('cat')).toEqual(['cat</w>']);
    expect(tok.tokenize('cats')).toEqual(['ca', 't', 's</w>']);
    expect(tok.tokenize('a cat')).toEqual(['a</w>', 'cat</w>']);
  });

  it('cleans whitespace, lowercases and normalizes to NFC', () => {
    expect(tok.tokenize('  HELLO\t\n  Cat  ')).toEqual(['hello</w>', 'cat</w>']);
    // "é" as e + combining acute (NFD) becomes the single code point U+00E9 → bytes C3 A9.
    expect(tok.tokenize('cafe\u0301')).toEqual(tok.tokenize('café'));
    expect(tok.tokenize('café')).toEqual([
      'ca',
      'f',
      BYTE_TO_UNICODE[0xc3]!,
      `${BYTE_TO_UNICODE[0xa9]!}</w>`,
    ]);
    expect(tok.tokenize('a\u200bcat')).toEqual(tok.tokenize('acat'));
  });

  it('splits with the CLIP pattern: contractions, single digits, punctuation runs, UTF-8 bytes', () => {
    expect(tok.tokenize("don't")).toEqual(['d', 'o', 'n</w>', "'", 't</w>']);
    expect(tok.tokenize('2024')).toEqual(['2</w>', '0</w>', '2</w>', '4</w>']);
    expect(tok.tokenize('cat!!')).toEqual(['cat</w>', '!', '!</w>']);
    const emoji = tok.tokenize('🐱');
    expect(emoji.join('')).toBe(`${[0xf0, 0x9f, 0x90, 0xb1].map((b) => BYTE_TO_UNICODE[b]!).join('')}</w>`);
  });

  it('adds BOS/EOS, pads to 77 with the pad token and truncates long prompts', () => {
    const e = tok.encode('a cat');
    expect(e.ids.slice(0, 4)).toEqual([BOS, 320, vocab['cat</w>'], EOS]);
    expect(e.ids).toHaveLength(77);
    expect(e.length).toBe(4);
    expect(e.ids.slice(4).every((id) => id === EOS)).toBe(true);
    const zeroPad = new ClipTokenizer({ vocab, merges: MERGES, padToken: '!' });
    expect(
      zeroPad
        .encode('a cat')
        .ids.slice(4)
        .every((id) => id === 0),
    ).toBe(true);
    const long = tok.encode(Array(100).fill('cat').join(' '));
    expect(long.ids).toHaveLength(77);
    expect(long.ids[76]).toBe(EOS);
    expect(long.truncated).toBe(25);
    expect(tok.encode('').ids.slice(0, 3)).toEqual([BOS, EOS, EOS]);
  });

  it('keeps special tokens written in the prompt whole', () => {
    expect(tok.encode('cat <|endoftext|>').ids.slice(0, 4)).toEqual([BOS, vocab['cat</w>'], EOS, EOS]);
  });

  it('parses merges.txt with its #version header', () => {
    expect(parseMerges('#version: 0.2\nh e\r\nl l\n\n')).toEqual(['h e', 'l l']);
  });
});

// The real CLIP vocabulary (openai/clip-vit-large-patch14 tokenizer/ or any SD export) cannot be
// downloaded here; point CLIP_TOKENIZER_DIR at one to check the published ids.
const realDir = process.env['CLIP_TOKENIZER_DIR'] ?? '';
describe.runIf(realDir !== '' && existsSync(join(realDir, 'vocab.json')))(
  'CLIP tokenizer with the real vocabulary',
  () => {
    it('matches Hugging Face ids', () => {
      const real = new ClipTokenizer({
        vocab: JSON.parse(readFileSync(join(realDir, 'vocab.json'), 'utf8')) as Record<string, number>,
        merges: parseMerges(readFileSync(join(realDir, 'merges.txt'), 'utf8')),
      });
      expect(real.encode('a photo of a cat').ids.slice(0, 7)).toEqual([
        49406, 320, 1125, 539, 320, 2368, 49407,
      ]);
      expect(real.encode('An astronaut riding a horse').ids.slice(0, 7)).toEqual([
        49406, 550, 18376, 6765, 320, 4558, 49407,
      ]);
    });
  },
);
