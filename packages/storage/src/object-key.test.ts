import { describe, expect, it } from 'vitest';

import { newObjectKey } from './object-store.js';

describe('newObjectKey', () => {
  it('names each image by 128 fresh random bits, across many refills of its random buffer', () => {
    // 1000 keys of 16 bytes: about four refills of the 4 KiB buffer, boundaries included.
    const keys = Array.from({ length: 1000 }, (_, i) => newObjectKey(i % 2 ? 'png' : 'jpeg'));
    keys.forEach((k, i) =>
      expect(k).toMatch(i % 2 ? /^images\/[0-9a-f]{32}\.png$/ : /^images\/[0-9a-f]{32}\.jpg$/),
    );
    expect(new Set(keys.map((k) => k.slice(7, 39))).size).toBe(keys.length);
  });
});
