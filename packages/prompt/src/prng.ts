/** FNV-1a over UTF-16 code units: a fast 32-bit hash to seed the PRNG, not for security. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small seeded generator with a 2^32 period; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator determined by (text, seed): same pair, same sequence. */
export function seededRandom(text: string, seed: number): () => number {
  const s = Number.isFinite(seed) ? Math.trunc(seed) : 0;
  return mulberry32(hash32(`${text}\u0000${s}`));
}

/** One element chosen with `random`, or undefined for an empty list. */
export function pick<T>(items: readonly T[], random: () => number): T | undefined {
  return items[Math.floor(random() * items.length)];
}
