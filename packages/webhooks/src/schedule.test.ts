import { describe, expect, it } from 'vitest';

import { DEFAULT_RETRY_SCHEDULE_MS, parseSchedule, retryDelay } from './schedule.js';

describe('retry schedule', () => {
  it('spans more than 24 hours by default', () => {
    const total = DEFAULT_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(24 * 3_600_000);
  });

  it('jitters each delay within ±20 % and honours a Retry-After floor', () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const d = retryDelay([1000, 60_000], 2, 0.2, 0, () => r);
      expect(d).toBeGreaterThanOrEqual(48_000);
      expect(d).toBeLessThanOrEqual(72_000);
    }
    expect(retryDelay([1000], 1, 0.2, 90_000, () => 0.5)).toBe(90_000);
    // Past the end of the schedule the last delay repeats.
    expect(retryDelay([1000, 2000], 9, 0, 0)).toBe(2000);
  });

  it('parses durations with units', () => {
    expect(parseSchedule('250ms, 5s,5m,2h,100')).toEqual([250, 5000, 300_000, 7_200_000, 100]);
    expect(() => parseSchedule('5 days')).toThrow(/not a duration/);
  });
});
