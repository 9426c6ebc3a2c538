/** Formatting for the page (no DOM): durations, sizes, countdowns, the key fragment. */

/** `850 ms`, `4.1 s`, `2 min 5 s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** `412 KB`, `1.2 MB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Time left as `59:07` or `1:02:03`; `0:00` once it has passed. */
export function formatCountdown(msLeft: number): string {
  const total = Math.max(0, Math.ceil(msLeft / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The job's stage timings in pipeline order: `queue 24 ms · generate 1.1 s · …`. */
export function formatTimings(timings: Readonly<Record<string, number>>): string {
  const order = ['queue', 'analyze', 'upsample', 'generate', 'upscale', 'safety', 'encode', 'store'];
  const names = Object.keys(timings).sort((a, b) => rank(order, a) - rank(order, b));
  return names.map((n) => `${n} ${formatMs(timings[n] ?? 0)}`).join(' · ');
}

const rank = (order: readonly string[], name: string) => {
  const i = order.indexOf(name);
  return i < 0 ? order.length : i;
};

/**
 * The API key in a `#key=…` fragment (what `npm start` prints: a fragment never reaches a server or its
 * logs), and the fragment without it, or null when there is none.
 */
export function keyFromFragment(hash: string): { key: string; rest: string } | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const key = params.get('key')?.trim();
  if (!key) return null;
  params.delete('key');
  const rest = params.toString();
  return { key, rest: rest ? `#${rest}` : '' };
}

/** `a1b2…` style: the key's public part only, for the page to say which key it uses. */
export function keyHint(key: string): string {
  const m = /^ig_([0-9a-f]+)_/.exec(key);
  return m ? `key id ${m[1]}` : `a key of ${key.length} characters`;
}
