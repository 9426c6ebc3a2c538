/**
 * Retry delays after a failed attempt, in ms. The default is the Standard Webhooks example schedule:
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h after the previous attempt (about 75 h in all,
 * eleven attempts counting the first).
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
];

/**
 * The delay before retry number `retry` (1-based): the schedule's entry, randomized by ±`jitter`
 * (a fraction) so receivers that failed together are not hit again together, and at least `floorMs`
 * (a Retry-After the receiver asked for).
 */
export function retryDelay(
  schedule: readonly number[],
  retry: number,
  jitter = 0.2,
  floorMs = 0,
  random: () => number = Math.random,
): number {
  const base = schedule[Math.min(Math.max(retry, 1), schedule.length) - 1] ?? 0;
  const spread = base * jitter * (2 * random() - 1);
  return Math.max(Math.round(base + spread), Math.round(floorMs));
}

/** Parses `5s,5m,30m,2h` or plain milliseconds `5000,300000` into ms. */
export function parseSchedule(text: string): number[] {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return text.split(',').map((raw) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
    if (!m) throw new Error(`"${raw.trim()}" is not a duration such as 500ms, 5s, 5m or 2h`);
    return Math.round(Number(m[1]) * unit[m[2] ?? 'ms']!);
  });
}
