import { describe, expect, it } from 'vitest';

import { randomHex, randomString, randomUint32 } from './random.js';

describe('pooled randomness', () => {
  it('hands out fresh bytes across many refills of the pool', () => {
    // 12 bytes at a time, 2000 times: about six refills of the 4 KiB pool, boundaries included.
    const ids = Array.from({ length: 2000 }, () => randomHex(12));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws strings from the alphabet only, with every character in use', () => {
    const s = Array.from({ length: 500 }, () => randomString('ab0', 24)).join('');
    expect(s).toMatch(/^[ab0]+$/);
    expect(new Set(s).size).toBe(3);
  });

  it('draws unsigned 32-bit integers spread over the range', () => {
    const xs = Array.from({ length: 1000 }, () => randomUint32());
    for (const x of xs) expect(Number.isInteger(x) && x >= 0 && x <= 0xffffffff).toBe(true);
    expect(xs.some((x) => x > 0x80000000)).toBe(true);
    expect(xs.some((x) => x < 0x80000000)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});
