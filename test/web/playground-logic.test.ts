// The playground's DOM-free parts (apps/web/src: catalog, format, messages), fast tier: no browser.
import { describe, expect, it } from 'vitest';

import {
  ASPECT_RATIOS as CLIENT_ASPECT_RATIOS,
  AuthenticationError,
  ContentPolicyError,
  GenerationFailedError,
  JobCanceledError,
  RateLimitError,
  ServiceUnavailableError,
  type Job,
} from '@imagegen/client';
import { ASPECT_RATIOS } from '@imagegen/engine';

import {
  ASPECTS,
  aspectLabel,
  categoryText,
  DEFAULT_ASPECT,
  TOLERANCE_LEVELS,
} from '../../apps/web/src/catalog.js';
import {
  formatCountdown,
  formatMs,
  formatTimings,
  keyFromFragment,
  keyHint,
} from '../../apps/web/src/format.js';
import { describeProblem } from '../../apps/web/src/messages.js';

describe('the playground catalog', () => {
  it("offers every aspect ratio at the engine's exact size, in the vendor's order, 16:9 by default", () => {
    expect(ASPECTS.map((a) => a.ratio)).toEqual([...CLIENT_ASPECT_RATIOS]);
    for (const a of ASPECTS) {
      expect([a.width, a.height], a.ratio).toEqual([
        ASPECT_RATIOS[a.ratio].width,
        ASPECT_RATIOS[a.ratio].height,
      ]);
    }
    expect(DEFAULT_ASPECT).toBe('16:9');
    expect(aspectLabel(ASPECTS[5]!)).toBe('21:9 Ultrawide: 2560 × 1080 px');
  });

  it("describes each safety tolerance level 0–6 with the vendor's words", () => {
    expect(TOLERANCE_LEVELS).toHaveLength(7);
    expect(TOLERANCE_LEVELS[0]).toMatch(/^0, most strict: blocks anything remotely questionable/);
    expect(TOLERANCE_LEVELS[2]).toMatch(/^2, moderate \(default\): blocks clearly inappropriate content/);
    expect(TOLERANCE_LEVELS[6]).toMatch(/^6, most permissive: allows artistic and mature themes/);
    expect(categoryText('hate')).toBe('hate symbols ("hate")');
    expect(categoryText('new_one')).toBe('"new_one"');
  });
});

describe('the playground formatting', () => {
  it('takes the key out of a #key= fragment and keeps the rest', () => {
    expect(keyFromFragment('#key=ig_0123456789ab_secret')).toEqual({
      key: 'ig_0123456789ab_secret',
      rest: '',
    });
    expect(keyFromFragment('#view=history&key=ig_a_b')).toEqual({ key: 'ig_a_b', rest: '#view=history' });
    expect(keyFromFragment('#key=')).toBeNull();
    expect(keyFromFragment('')).toBeNull();
    expect(keyHint('ig_0123456789ab_secretpart')).toBe('key id 0123456789ab');
    expect(keyHint('something-else')).not.toContain('something');
  });

  it('formats durations, countdowns and stage timings', () => {
    expect(formatMs(850)).toBe('850 ms');
    expect(formatMs(4100)).toBe('4.1 s');
    expect(formatMs(125_000)).toBe('2 min 5 s');
    expect(formatCountdown(3_600_000)).toBe('1:00:00');
    expect(formatCountdown(59 * 60_000 + 7_000)).toBe('59:07');
    expect(formatCountdown(-5)).toBe('0:00');
    expect(formatTimings({ store: 30, queue: 800, generate: 4100, other: 5 })).toBe(
      'queue 800 ms · generate 4.1 s · store 30 ms · other 5 ms',
    );
  });
});

describe('the playground messages', () => {
  it('names the policy category of a refusal and points at the prompt', () => {
    const p = describeProblem(
      new ContentPolicyError('content_policy_violation', 'refused', { category: 'violence', status: 400 }),
      2,
    );
    expect(p).toMatchObject({ title: 'Prompt refused', focus: 'prompt', tone: 'error' });
    expect(p.detail).toContain('violence and gore ("violence") at safety tolerance 2');
  });

  it('carries the Retry-After time of a rate limit or a full queue', () => {
    const limited = describeProblem(
      new RateLimitError('rate_limited', 'limited to 60 per minute', { status: 429, retryAfterMs: 41_200 }),
    );
    expect(limited).toMatchObject({ title: 'Rate limited', retryAfterS: 42 });
    const full = describeProblem(
      new ServiceUnavailableError('queue_full', 'full', { status: 503, retryAfterMs: 5000 }),
    );
    expect(full).toMatchObject({ title: 'The queue is full', retryAfterS: 5 });
  });

  it('tells a failure that may pass on a retry from one that will not, and a cancel from an error', () => {
    const job = (retryable: boolean) =>
      ({ error: { code: 'timeout', message: 'too slow', retryable } }) as unknown as Job;
    const again = describeProblem(new GenerationFailedError('timeout', 'too slow', { job: job(true) }));
    expect(again.detail).toBe('too slow (timeout). Trying again may work.');
    const never = describeProblem(new GenerationFailedError('timeout', 'too slow', { job: job(false) }));
    expect(never.detail).toBe('too slow (timeout).');
    expect(describeProblem(new JobCanceledError('canceled', 'x')).tone).toBe('info');
    expect(describeProblem(new AuthenticationError('unauthorized', 'x', { status: 401 })).focus).toBe('key');
  });
});
