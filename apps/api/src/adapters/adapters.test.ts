import { describe, expect, it } from 'vitest';

import { call, useApiServer, world } from '../../../../test/support/api-harness.js';
import { FakeRateLimiter } from '../../../../test/support/fakes.js';
import { until } from '../../../../test/support/processes.js';
import { nearestAspectRatio } from './aspect.js';
import { aspectRatioOfSize } from './openai/request.js';

/** The compatible APIs in memory (fakes behind createApp): what they refuse before any job exists. */
useApiServer();

describe('size and width/height mapping', () => {
  it('maps each vendor size to itself, other sizes to the nearest ratio, auto and none to 1:1', () => {
    expect(
      [
        [1024, 1024],
        [1920, 1080],
        [1080, 1920],
        [1024, 768],
        [768, 1024],
        [2560, 1080],
        [1080, 2560],
      ].map(([w, h]) => nearestAspectRatio(w!, h!)),
    ).toEqual(['1:1', '16:9', '9:16', '4:3', '3:4', '21:9', '9:21']);
    expect(aspectRatioOfSize('256x256')).toBe('1:1');
    expect(aspectRatioOfSize('1536x1024')).toBe('4:3');
    expect(aspectRatioOfSize('1792x1024')).toBe('16:9');
    expect(aspectRatioOfSize('1024x1792')).toBe('9:16');
    expect(aspectRatioOfSize('4000x1000')).toBe('21:9');
    expect(aspectRatioOfSize('auto')).toBe('1:1');
    expect(aspectRatioOfSize(undefined)).toBe('1:1');
  });
});

describe('/bfl/v1 without PUBLIC_BASE_URL', () => {
  it('refuses submits with 501 naming the setting (a polling_url is never built from Host), and still answers get_result', async () => {
    const { queue: q } = world();
    const r = await call('POST', '/bfl/v1/flux-dev', { body: { prompt: 'a red circle' } });
    expect(r.status).toBe(501);
    expect(r.body['detail']).toMatch(/PUBLIC_BASE_URL/);
    expect(q.enqueued).toHaveLength(0);
    const poll = await call('GET', '/bfl/v1/get_result?id=gen_x');
    expect(poll.body).toMatchObject({ id: 'gen_x', status: 'Task not found' });
  });
});

describe('/openai/v1 limits', () => {
  it('takes n tokens of the key’s submit bucket and refuses an n above its concurrency limit', async () => {
    world({ CONCURRENCY_LIMIT: 2 });
    const r = await call('POST', '/openai/v1/images/generations', { body: { prompt: 'a red circle', n: 3 } });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-should-retry')).toBe('false');
    expect(r.body['error']).toMatchObject({ param: 'n', type: 'invalid_request_error' });
    expect((r.body['error'] as { message: string }).message).toMatch(/at most 2/);

    const { queue } = world({ RATE_LIMIT_PER_MINUTE: 4, MAX_WAIT_S: 0 });
    const first = await call('POST', '/openai/v1/images/generations', {
      body: { prompt: 'a red circle', n: 4 },
    });
    // The fake queue runs nothing: the wait (MAX_WAIT_S 0) ends with the jobs queued.
    expect(first.status).toBe(504);
    expect(queue.enqueued).toHaveLength(4);
    const second = await call('POST', '/openai/v1/images/generations', { body: { prompt: 'a blue circle' } });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(second.headers.get('x-should-retry')).toBe('true');
    expect(second.body['error']).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });
    expect(queue.enqueued).toHaveLength(4);
  });

  it('attaches a retry to its own first attempt’s jobs, never to an earlier request with the same body', async () => {
    const limiter = new FakeRateLimiter();
    const { queue } = world({ MAX_WAIT_S: 0 }, { rateLimiter: limiter });
    const body = { prompt: 'a red circle', seed: 5 };
    const post = (retryCount: string) =>
      call('POST', '/openai/v1/images/generations', {
        body,
        headers: { 'x-stainless-retry-count': retryCount },
      });
    // An earlier request with the same body.
    expect((await post('0')).status).toBe(504);
    // A first attempt is retried: the retry attaches to that attempt's job.
    const attempt = await post('0');
    expect(attempt.status).toBe(504);
    expect(queue.enqueued).toHaveLength(2);
    const retried = await post('1');
    expect(retried.status).toBe(504);
    expect(queue.enqueued).toHaveLength(2);
    expect((retried.body['error'] as { message: string }).message).toContain(queue.enqueued[1]!.id);
    // A new request that is refused (429) before it makes a job: its retry makes one, and the earlier
    // request's jobs stay out of it.
    limiter.used.set('keya:write', 1000);
    expect((await post('0')).status).toBe(429);
    limiter.used.delete('keya:write');
    const afterRefusal = await post('1');
    expect(queue.enqueued).toHaveLength(3);
    expect((afterRefusal.body['error'] as { message: string }).message).toContain(queue.enqueued[2]!.id);
  });

  it('answers an image the safety stage withheld as 400 content_policy_violation, a failed one as 5xx', async () => {
    const { queue, jobs } = world();
    /** Sends a request, ends its job as `end` does once it is queued, and returns the answer. */
    const ending = async (end: (id: string) => Promise<unknown>) => {
      const before = queue.enqueued.length;
      const answer = call('POST', '/openai/v1/images/generations', { body: { prompt: 'a red circle' } });
      await until('the job to be queued', () => queue.enqueued.length > before);
      await end(queue.enqueued.at(-1)!.id);
      return answer;
    };
    const withheld = await ending((id) =>
      jobs.finish(id, 'keya', 'moderated', {
        error: { code: 'content_moderated', message: 'withheld', retryable: false },
        moderation: { stage: 'output', category: 'adult' },
      }),
    );
    expect(withheld.status).toBe(400);
    expect(withheld.headers.get('x-should-retry')).toBe('false');
    expect(withheld.body['error']).toMatchObject({
      code: 'content_policy_violation',
      type: 'image_generation_user_error',
    });
    expect((withheld.body['error'] as { message: string }).message).toMatch(/safety check \(adult\)/);

    const failed = await ending((id) =>
      jobs.finish(id, 'keya', 'failed', {
        error: { code: 'generation_failed', message: 'boom', retryable: false },
      }),
    );
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-should-retry')).toBe('false');
    const transient = await ending((id) =>
      jobs.finish(id, 'keya', 'failed', {
        error: { code: 'storage_unavailable', message: 'S3', retryable: true },
      }),
    );
    expect(transient.status).toBe(503);
    expect(transient.headers.get('x-should-retry')).toBe('true');
    expect(transient.headers.get('retry-after')).toBe('1');
  });

  it('answers an unknown path in OpenAI’s shape and a wrong method with 405', async () => {
    world();
    const edits = await call('POST', '/openai/v1/images/edits', { body: {} });
    expect(edits.status).toBe(404);
    expect(edits.body['error']).toMatchObject({ type: 'invalid_request_error', code: 'not_found' });
    const get = await call('GET', '/openai/v1/images/generations');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});
