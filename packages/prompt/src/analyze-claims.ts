import type { PromptPart, Span } from './analyze-parts.js';
import type { Word } from './words.js';

/** Which part owns each word, and the spans claimed so far; each pass claims only free words. */
export class Claims {
  private readonly owner: (PromptPart | null)[];
  readonly spans: Span[] = [];
  constructor(readonly words: Word[]) {
    this.owner = words.map(() => null);
  }
  free(i: number): boolean {
    return i >= 0 && i < this.words.length && this.owner[i] === null;
  }
  /** True when no clause break separates word i from word i + 1. */
  joined(i: number): boolean {
    const next = this.words[i + 1];
    return next !== undefined && !next.breakBefore;
  }
  claim(part: PromptPart, start: number, end: number): void {
    for (let i = start; i <= end; i++) this.owner[i] = part;
    this.spans.push({ part, start, end });
  }
  /** Walks back from `i` over free words of the same clause that `accept` takes, at most `max` words. */
  extendBack(i: number, max: number, accept: (w: Word) => boolean): number {
    let start = i;
    while (
      start - i > -max &&
      this.free(start - 1) &&
      this.joined(start - 1) &&
      accept(this.words[start - 1]!)
    )
      start -= 1;
    return start;
  }
}
