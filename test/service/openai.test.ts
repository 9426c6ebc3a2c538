/**
 * The OpenAI Images API adapter (`/openai/v1`) as its users meet it: the official `openai` npm SDK,
 * unchanged but for its base URL, against a real stack (Redis, S3, the API and a worker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { AuthenticationError, BadRequestError, InternalServerError } from 'openai';

import { RedisRateLimiter } from '@imagegen/access';
import { connectRedis } from '@imagegen/jobs';

import { client, startStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let redis: ReturnType<typeof connectRedis>;

beforeAll(async () => {
  // A plain resize instead of the ESRGAN upscaler: the sizes are what is tested here, not the pixels.
  // Previews at every step: the fixture model takes 4 (the stream test turns them into partial images).
  stack = await startStack({ env: { UPSCALER: 'lanczos', PREVIEW_EVERY_STEPS: '1' } });
  redis = connectRedis(stack.env['REDIS_URL']!, 'request');
});
afterAll(async () => {
  await redis.quit();
  await stack.stop();
});

/** A fresh API key (its own jobs, limits and list) and an SDK client for it; `seen` logs every HTTP answer. */
async function sdk(options: { fetch?: typeof fetch } = {}) {
  const { id, secret } = await stack.api.apiKeys.create('openai-test');
  const seen: { status: number; retryCount: string | null }[] = [];
  const inner = options.fetch ?? fetch;
  const openai = new OpenAI({
    apiKey: secret,
    baseURL: `${stack.base}/openai/v1`,
    fetch: async (url: string | URL | Request, init?: RequestInit) => {
      const res = await inner(url, init);
      seen.push({
        status: res.status,
        retryCount: new Headers(init?.headers).get('x-stainless-retry-count'),
      });
      return res;
    },
  });
  const jobs = async () => {
    const r = await client({ base: stack.base, key: secret })('/v1/images/generations?limit=100');
    return r.json['data'] as {
      id: string;
      status: string;
      input: { seed: number; aspect_ratio: string; output_format: string; safety_tolerance: number };
      metadata: Record<string, unknown>;
    }[];
  };
  return { openai, keyId: id, key: secret, seen, jobs };
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(bytes: Buffer): [number, number] {
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

/** Width and height from a JPEG's start-of-frame segment. */
function jpegSize(bytes: Buffer): [number, number] {
  expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
  for (let at = 2; at + 9 < bytes.length;) {
    const marker = bytes[at + 1]!;
    const length = bytes.readUInt16BE(at + 2);
    // SOF0–SOF15 except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return [bytes.readUInt16BE(at + 7), bytes.readUInt16BE(at + 5)];
    }
    at += 2 + length;
  }
  throw new Error('no start-of-frame segment in the JPEG');
}

describe('OpenAI SDK → /openai/v1/images/generations', () => {
  it('maps each vendor size to itself and OpenAI sizes to the nearest aspect ratio; b64_json decodes to that size', async () => {
    const { openai, jobs } = await sdk();
    const cases: [string, number, number][] = [
      ['1024x1024', 1024, 1024],
      ['1920x1080', 1920, 1080],
      ['1080x1920', 1080, 1920],
      ['1024x768', 1024, 768],
      ['768x1024', 768, 1024],
      ['2560x1080', 2560, 1080],
      ['1080x2560', 1080, 2560],
      // OpenAI's own sizes: 3:2 is nearest 4:3, 1024x1792 (4:7) nearest 9:16.
      ['1536x1024', 1024, 768],
      ['1024x1792', 1080, 1920],
    ];
    // PNG (OpenAI's default) for two of them; JPEG, quicker to encode, for the rest.
    const png = (size: string) => size === '1024x1024' || size === '1536x1024';
    const answers = await Promise.all(
      cases.map(([size]) =>
        openai.images.generate({
          prompt: 'a red circle on a white background',
          size: size as '1024x1024',
          response_format: 'b64_json',
          ...(png(size) ? {} : { output_format: 'jpeg' }),
        }),
      ),
    );
    for (const [i, [size, w, h]] of cases.entries()) {
      const data = answers[i]!.data!;
      expect(data, size).toHaveLength(1);
      const bytes = Buffer.from(data[0]!.b64_json!, 'base64');
      expect(png(size) ? pngSize(bytes) : jpegSize(bytes), size).toEqual([w, h]);
      expect(answers[i]!.output_format).toBe(png(size) ? 'png' : 'jpeg');
    }
    const made = await jobs();
    expect(made).toHaveLength(cases.length);
    expect(made.every((j) => j.status === 'succeeded' && j.metadata['adapter'] === 'openai')).toBe(true);
  });

  it('n: 3 makes three jobs with consecutive seeds and answers their three distinct images in order, as URLs', async () => {
    const { openai, jobs } = await sdk();
    const r = await openai.images.generate({
      prompt: 'two small blue stars',
      n: 3,
      size: '1024x1024',
      output_format: 'jpeg',
      // Our extensions: the first image's seed, and the worker's prompt rewrite.
      seed: 4000,
      prompt_upsampling: true,
    } as OpenAI.Images.ImageGenerateParamsNonStreaming);
    expect(r.data).toHaveLength(3);
    expect(r.output_format).toBe('jpeg');
    const images = await Promise.all(
      r.data!.map(async (d) => Buffer.from(await (await fetch(d.url!)).arrayBuffer())),
    );
    for (const img of images) expect([img[0], img[1]]).toEqual([0xff, 0xd8]);
    expect(new Set(images.map((b) => b.toString('base64'))).size).toBe(3);
    // The rewrite keeps the user's words and adds to them; the job records the same revised prompt.
    for (const d of r.data!) expect(d.revised_prompt).toMatch(/two small blue stars.+/);
    // Native list, newest first: one job per image, seeds s, s+1, s+2.
    const made = (await jobs()).reverse();
    expect(made.map((j) => j.input.seed)).toEqual([4000, 4001, 4002]);
    expect(made.map((j) => j.metadata['index'])).toEqual([0, 1, 2]);
    expect(made.map((j) => (j as unknown as { revised_prompt: string }).revised_prompt)).toEqual(
      r.data!.map((d) => d.revised_prompt),
    );
    expect(made.every((j) => j.input.output_format === 'jpeg' && j.input.safety_tolerance === 2)).toBe(true);
  });

  it('refuses a prompt with BadRequestError content_policy_violation, and starts no job', async () => {
    const { openai, seen, jobs } = await sdk();
    const e = await openai.images
      .generate({ prompt: 'a decapitated body, gore everywhere' })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BadRequestError);
    expect(e).toMatchObject({
      status: 400,
      code: 'content_policy_violation',
      type: 'image_generation_user_error',
    });
    expect(seen).toHaveLength(1);
    expect(await jobs()).toHaveLength(0);
  });

  it('answers bad fields with BadRequestError naming the field, never retried', async () => {
    const { openai, seen } = await sdk();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ output_format: 'webp' }, 'output_format', /webp is not offered/],
      [{ background: 'transparent' }, 'background', /transparent is not offered/],
      [{ n: 11 }, 'n', /between 1 and 10/],
      [{ size: 'big' }, 'size', /WIDTHxHEIGHT/],
      [{ response_format: 'base64' }, 'response_format', /url or b64_json/],
      [{ mask: 'x' }, 'mask', /Unrecognized request argument supplied: mask/],
    ];
    for (const [extra, param, message] of cases) {
      const e = await openai.images
        .generate({ prompt: 'a red circle', ...extra } as OpenAI.Images.ImageGenerateParamsNonStreaming)
        .catch((err: unknown) => err);
      expect(e, param).toBeInstanceOf(BadRequestError);
      expect((e as BadRequestError).param, param).toBe(param);
      expect((e as BadRequestError).message, param).toMatch(message);
      expect((e as BadRequestError).headers.get('x-should-retry')).toBe('false');
    }
    // Each answered once: x-should-retry: false stops the SDK's retries.
    expect(seen).toHaveLength(cases.length);
    // moderation/quality/style/user/background: auto are accepted as they are.
    const ok = await openai.images.generate({
      prompt: 'a red circle',
      model: 'gpt-image-1',
      moderation: 'low',
      quality: 'high',
      style: 'vivid',
      user: 'u-1',
      background: 'opaque',
      size: 'auto',
    });
    expect(ok.data).toHaveLength(1);
    expect(ok.data![0]!.b64_json).toBeUndefined();
    expect(ok.data![0]!.url).toMatch(/^http/);
  });

  it('a 429 is retried by the SDK after Retry-After and then succeeds, with one job', async () => {
    const { openai, keyId, seen, jobs } = await sdk();
    // Spend the key's submit bucket (60 a minute): the next token is back in about a second.
    await new RedisRateLimiter(redis, stack.env['REDIS_PREFIX']!).take(`${keyId}:write`, 60, 60);
    const r = await openai.images.generate({ prompt: 'a big red square' });
    expect(r.data).toHaveLength(1);
    expect(seen.map((s) => s.status)).toEqual([429, 200]);
    expect(seen[1]!.retryCount).toBe('1');
    expect(await jobs()).toHaveLength(1);
  });

  it('a retry of the SDK after a lost answer attaches to the first attempt’s jobs instead of starting more', async () => {
    let attempts = 0;
    // The first answer is lost on its way (a proxy drops the connection); the SDK retries the same request.
    const losing: typeof fetch = async (url, init) => {
      const res = await fetch(url, init);
      if (++attempts === 1) {
        await res.arrayBuffer();
        throw new TypeError('fetch failed: connection reset');
      }
      return res;
    };
    const { openai, jobs } = await sdk({ fetch: losing });
    const r = await openai.images.generate({ prompt: 'a small green triangle', n: 2 });
    expect(attempts).toBe(2);
    expect(r.data).toHaveLength(2);
    const made = await jobs();
    expect(made).toHaveLength(2);
    expect(made.every((j) => j.status === 'succeeded')).toBe(true);
  });

  it('a generation still running when the wait ends is 504 with its job id, not retried, and goes on', async () => {
    // The SDK's timeout (X-Stainless-Timeout: 2 s) caps the wait below it: 0 s here, so the job is still queued.
    const { openai, seen, jobs } = await sdk();
    const e = await openai.images
      .generate({ prompt: 'a blue circle' }, { timeout: 2000 })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(InternalServerError);
    expect((e as InternalServerError).status).toBe(504);
    expect((e as InternalServerError).headers.get('x-should-retry')).toBe('false');
    const id = /gen_[A-Za-z0-9]{24}/.exec((e as Error).message)?.[0];
    expect(id).toBeDefined();
    expect(seen).toHaveLength(1);
    const made = await jobs();
    expect(made.map((j) => j.id)).toEqual([id]);
  });

  it('stream: true yields partial images from the engine’s live previews, then the final image', async () => {
    const { openai, jobs } = await sdk();
    const stream = await openai.images.generate({
      prompt: 'a red circle on a white background',
      stream: true,
      partial_images: 2,
      size: '1024x1024',
    });
    const events: OpenAI.Images.ImageGenStreamEvent[] = [];
    for await (const ev of stream) events.push(ev);
    const partials = events.filter((e) => e.type === 'image_generation.partial_image');
    expect(partials.length).toBeGreaterThan(0);
    expect(partials.length).toBeLessThanOrEqual(2);
    expect(partials.map((p) => p.partial_image_index)).toEqual(partials.map((_, i) => i));
    for (const p of partials) {
      const [w, h] = jpegSize(Buffer.from(p.b64_json, 'base64'));
      expect(Math.max(w, h)).toBeLessThanOrEqual(256);
    }
    const final = events.at(-1)!;
    expect(final.type).toBe('image_generation.completed');
    expect(pngSize(Buffer.from(final.b64_json, 'base64'))).toEqual([1024, 1024]);
    expect(events.filter((e) => e.type === 'image_generation.completed')).toHaveLength(1);
    expect(await jobs()).toHaveLength(1);

    // A refused prompt is refused before the stream opens; n > 1 cannot stream.
    await expect(
      openai.images.generate({ prompt: 'a decapitated body, gore everywhere', stream: true }),
    ).rejects.toBeInstanceOf(BadRequestError);
    await expect(
      openai.images.generate({ prompt: 'a red circle', stream: true, n: 2 }),
    ).rejects.toMatchObject({
      status: 400,
      param: 'stream',
    });
  });

  it('refuses a wrong key with AuthenticationError, and lists the models the workers run', async () => {
    const wrong = new OpenAI({ apiKey: 'ig_wrong', baseURL: `${stack.base}/openai/v1`, maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toBeInstanceOf(AuthenticationError);
    const { openai } = await sdk();
    const models = [];
    for await (const m of openai.models.list()) models.push(m);
    expect(models.length).toBeGreaterThan(0);
    expect(models[0]).toMatchObject({ object: 'model', owned_by: 'imagegen' });
    expect(typeof models[0]!.id).toBe('string');
  });
});
