/**
 * CLIP byte-level BPE tokenizer, equivalent to Hugging Face `CLIPTokenizerFast` (and to `CLIPTokenizer` on
 * text ftfy leaves alone): NFC, control characters dropped, whitespace runs collapsed, lowercase; split by
 * CLIP's pre-token pattern; each piece mapped to GPT-2's byte alphabet, its last symbol suffixed with
 * `</w>`, then merged by rank; `<|startoftext|>` … `<|endoftext|>` around the ids, truncated to 77 and
 * padded with the model's pad token.
 */

/** CLIP's pre-tokenization pattern (openai/CLIP simple_tokenizer.py), case-insensitive, Unicode-aware. */
const PRE_TOKEN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** GPT-2 `bytes_to_unicode`: printable bytes map to themselves, the rest to code points from U+0100. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
})();

export interface ClipTokenizerSpec {
  /** token → id, as in `vocab.json`. */
  vocab: Record<string, number>;
  /** Merge rules in rank order: "a b" pairs, without the `#version` header. */
  merges: readonly string[];
  bosToken?: string;
  eosToken?: string;
  /** `<|endoftext|>` for SD 1.x, `!` for SD 2.x / SD-Turbo. */
  padToken?: string;
  unkToken?: string;
  /** Sequence length including BOS and EOS (77 for every Stable Diffusion text encoder). */
  maxLength?: number;
}

export interface TokenizedPrompt {
  /** Exactly `maxLength` ids: BOS, tokens, EOS, padding. */
  ids: number[];
  /** Ids before padding (BOS … EOS). */
  length: number;
  /** How many tokens did not fit and were dropped. */
  truncated: number;
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly maxLength: number;
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  constructor(spec: ClipTokenizerSpec) {
    this.vocab = new Map(Object.entries(spec.vocab));
    this.ranks = new Map(spec.merges.map((m, i) => [m, i]));
    const id = (token: string, role: string): number => {
      const v = this.vocab.get(token);
      if (v === undefined) throw new Error(`${role} token ${JSON.stringify(token)} is not in vocab.json`);
      return v;
    };
    this.bosId = id(spec.bosToken ?? '<|startoftext|>', 'BOS');
    this.eosId = id(spec.eosToken ?? '<|endoftext|>', 'EOS');
    this.padId = id(spec.padToken ?? '<|endoftext|>', 'pad');
    this.unkId = id(spec.unkToken ?? '<|endoftext|>', 'unknown');
    this.maxLength = spec.maxLength ?? 77;
    if (this.maxLength < 2) throw new Error('maxLength must be at least 2');
  }

  /** Normalizes text the way CLIPTokenizerFast's normalizer does. */
  static normalize(text: string): string {
    return (
      text
        .normalize('NFC')
        // Control and format characters other than whitespace carry no meaning to CLIP.
        .replace(/[\p{Cc}\p{Cf}\uFFFD]/gu, (c) => (/\s/u.test(c) ? ' ' : ''))
        .replace(/\s+/gu, ' ')
        .trim()
        .toLowerCase()
    );
  }

  /** BPE pieces (vocabulary strings) of a text, without BOS/EOS. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    const utf8 = new TextEncoder();
    for (const match of ClipTokenizer.normalize(text).matchAll(PRE_TOKEN)) {
      const piece = match[0];
      if (piece === '<|startoftext|>' || piece === '<|endoftext|>') {
        // Special tokens written in the text stay whole, as Hugging Face's added-token splitting does.
        out.push(piece);
        continue;
      }
      const bytes = utf8.encode(piece);
      let mapped = '';
      for (const b of bytes) mapped += BYTE_TO_UNICODE[b]!;
      out.push(...this.bpe(mapped));
    }
    return out;
  }

  /** Token ids of a text with BOS and EOS, truncated to fit `maxLength`, padded to it. */
  encode(text: string): TokenizedPrompt {
    const pieces = this.tokenize(text);
    const room = this.maxLength - 2;
    const kept = pieces.slice(0, room);
    const ids = [this.bosId, ...kept.map((p) => this.vocab.get(p) ?? this.unkId), this.eosId];
    const length = ids.length;
    while (ids.length < this.maxLength) ids.push(this.padId);
    return { ids, length, truncated: Math.max(0, pieces.length - room) };
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]!}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]!} ${word[i + 1]!}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i += 1;
        }
      }
      word = merged;
    }
    if (this.cache.size < 50_000) this.cache.set(token, word);
    return word;
  }
}

/** Parses a `merges.txt` file: skips the `#version` header and blank lines. */
export function parseMerges(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
}
