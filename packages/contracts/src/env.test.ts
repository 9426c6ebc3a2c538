import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  ConfigError,
  JobRetentionEnv,
  listenEnv,
  LoggingEnv,
  ModerationEnv,
  parseEnv,
  RedisEnv,
  S3Env,
  SharedEnv,
  UpsamplerEnv,
  webhookAllowlistEnv,
} from '@imagegen/contracts';

/** The ConfigError a parse throws (fails the test when it does not throw one). */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const prefix = (REDIS_PREFIX: string) => parseEnv({ REDIS_PREFIX }, [RedisEnv]).REDIS_PREFIX;

describe('parseEnv', () => {
  it('names every bad variable of every fragment in one error', () => {
    const e = configError(() =>
      parseEnv({ REDIS_URL: 'nope', LOG_LEVEL: 'loud', MODERATION_BASE_URL: 'ftp://x' }, [
        ...SharedEnv,
        ModerationEnv,
      ]),
    );
    expect(e.code).toBe('invalid_configuration');
    expect(e.problems.map((p) => p.variable)).toEqual(['REDIS_URL', 'LOG_LEVEL', 'MODERATION_BASE_URL']);
    expect(e.message).toMatch(
      /^invalid configuration:\n {2}REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL\n {2}LOG_LEVEL: .+\n {2}MODERATION_BASE_URL: must be an http\(s\) URL$/,
    );
  });

  it('keeps today’s defaults, except REDIS_PREFIX, which is now the hash tag {imagegen}', () => {
    expect(parseEnv({}, [...SharedEnv, listenEnv('PORT', 8080), webhookAllowlistEnv(() => null)])).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: '{imagegen}',
      redis: { mode: 'single', url: 'redis://127.0.0.1:6379' },
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_ACCESS_KEY: 'imagegen',
      S3_SECRET_KEY: 'imagegen-secret',
      S3_BUCKET: 'imagegen',
      S3_REGION: 'us-east-1',
      S3_REQUEST_TIMEOUT_MS: 30_000,
      IMAGE_TTL_MS: 3_600_000,
      JOB_RETENTION_S: 86_400,
      LOG_LEVEL: 'info',
      PORT: 8080,
      HOST: '0.0.0.0',
      IMAGEGEN_WEBHOOK_ALLOWLIST: '',
    });
  });

  it('returns a frozen config with numbers coerced and unknown variables dropped', () => {
    const config = parseEnv({ IMAGE_TTL_MS: '5000', JOB_RETENTION_S: '60', PATH: '/bin' }, [
      S3Env,
      JobRetentionEnv,
      LoggingEnv,
    ]);
    expect(config.IMAGE_TTL_MS).toBe(5000);
    expect(config.JOB_RETENTION_S).toBe(60);
    expect('PATH' in config).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('keeps the ranges: IMAGE_TTL_MS 1 s to 7 days, ports 0 to 65535, JOB_RETENTION_S at least 60', () => {
    const e = configError(() =>
      parseEnv({ IMAGE_TTL_MS: '999', JOB_RETENTION_S: '59', WORKER_PORT: '65536' }, [
        S3Env,
        JobRetentionEnv,
        listenEnv('WORKER_PORT', 9090),
      ]),
    );
    expect(e.problems.map((p) => p.variable)).toEqual(['IMAGE_TTL_MS', 'JOB_RETENTION_S', 'WORKER_PORT']);
    expect(parseEnv({ IMAGE_TTL_MS: '604800000' }, [S3Env]).IMAGE_TTL_MS).toBe(604_800_000);
    expect(() => parseEnv({ IMAGE_TTL_MS: '604800001' }, [S3Env])).toThrow(/IMAGE_TTL_MS/);
  });
});

describe('REDIS_PREFIX', () => {
  it('accepts a Redis Cluster hash tag, alone or with text around it', () => {
    expect(prefix('{imagegen}')).toBe('{imagegen}');
    expect(prefix('myapp:{imagegen}')).toBe('myapp:{imagegen}');
    expect(prefix('{imagegen}:v2')).toBe('{imagegen}:v2');
    expect(prefix('imagegen')).toBe('imagegen');
    expect(prefix('test-1.a_b')).toBe('test-1.a_b');
  });

  it.each(['a{b}c{d}', '{}', 'a{', 'a}b', '{a{b}}', '', 'a b', 'a/b'])('refuses %j', (value) => {
    expect(configError(() => prefix(value)).problems.map((p) => p.variable)).toEqual(['REDIS_PREFIX']);
  });
});

describe('ModerationEnv', () => {
  it('is off without MODERATION_BASE_URL, and then ignores the other MODERATION_ variables', () => {
    expect(parseEnv({}, [ModerationEnv])).toEqual({ moderation: null });
    expect(parseEnv({ MODERATION_BASE_URL: '', MODERATION_TIMEOUT_MS: '-1' }, [ModerationEnv])).toEqual({
      moderation: null,
    });
  });

  it('defaults the model and the timeout, and keeps an API key', () => {
    expect(parseEnv({ MODERATION_BASE_URL: 'http://x/v1' }, [ModerationEnv]).moderation).toEqual({
      baseUrl: 'http://x/v1',
      timeoutMs: 3000,
      model: 'omni-moderation-latest',
    });
    expect(
      parseEnv(
        {
          MODERATION_BASE_URL: 'https://api.example/v1',
          MODERATION_MODEL: 'm',
          MODERATION_API_KEY: 'k',
          MODERATION_TIMEOUT_MS: '1000',
        },
        [ModerationEnv],
      ).moderation,
    ).toEqual({ baseUrl: 'https://api.example/v1', model: 'm', apiKey: 'k', timeoutMs: 1000 });
  });

  it('lists a bad URL and a bad timeout together', () => {
    const e = configError(() =>
      parseEnv({ MODERATION_BASE_URL: 'x', MODERATION_TIMEOUT_MS: '-1' }, [ModerationEnv]),
    );
    expect(e.problems.map((p) => p.variable)).toEqual(['MODERATION_BASE_URL', 'MODERATION_TIMEOUT_MS']);
  });
});

describe('UpsamplerEnv', () => {
  it('runs the rule engine by default and ignores the UPSAMPLER_ variables then', () => {
    expect(parseEnv({}, [UpsamplerEnv])).toEqual({ upsampler: { kind: 'rules' } });
    expect(parseEnv({ UPSAMPLER_TIMEOUT_MS: 'soon' }, [UpsamplerEnv])).toEqual({
      upsampler: { kind: 'rules' },
    });
  });

  it('PROMPT_UPSAMPLER=llm without UPSAMPLER_BASE_URL names UPSAMPLER_BASE_URL', () => {
    const e = configError(() =>
      parseEnv({ PROMPT_UPSAMPLER: 'llm', UPSAMPLER_MODEL: 'qwen' }, [UpsamplerEnv]),
    );
    expect(e.problems).toEqual([
      { variable: 'UPSAMPLER_BASE_URL', message: 'is required when PROMPT_UPSAMPLER=llm' },
    ]);
  });

  it('lists every missing or bad llm variable, next to other fragments’ problems', () => {
    const e = configError(() =>
      parseEnv({ PROMPT_UPSAMPLER: 'llm', UPSAMPLER_TIMEOUT_MS: 'soon', REDIS_URL: 'x' }, [
        RedisEnv,
        UpsamplerEnv,
      ]),
    );
    expect(e.problems.map((p) => p.variable)).toEqual([
      'REDIS_URL',
      'UPSAMPLER_BASE_URL',
      'UPSAMPLER_MODEL',
      'UPSAMPLER_TIMEOUT_MS',
    ]);
  });

  it('refuses an unknown kind', () => {
    expect(configError(() => parseEnv({ PROMPT_UPSAMPLER: 'gpt' }, [UpsamplerEnv])).message).toMatch(
      /PROMPT_UPSAMPLER: must be "rules" or "llm"/,
    );
  });

  it('builds the llm settings with the default timeout', () => {
    expect(
      parseEnv(
        {
          PROMPT_UPSAMPLER: 'llm',
          UPSAMPLER_BASE_URL: 'http://127.0.0.1:8080/v1',
          UPSAMPLER_MODEL: 'qwen',
          UPSAMPLER_API_KEY: 'k',
        },
        [UpsamplerEnv],
      ).upsampler,
    ).toEqual({
      kind: 'llm',
      baseUrl: 'http://127.0.0.1:8080/v1',
      model: 'qwen',
      apiKey: 'k',
      timeoutMs: 10_000,
    });
  });
});

describe('webhookAllowlistEnv', () => {
  it('reports what the parser throws as the variable’s problem, and keeps the text', () => {
    const parse = (text: string) => {
      if (text.includes('!'))
        throw new Error(`IMAGEGEN_WEBHOOK_ALLOWLIST: "${text}" is neither a host name nor an IP/CIDR`);
    };
    expect(parseEnv({ IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1' }, [webhookAllowlistEnv(parse)])).toEqual({
      IMAGEGEN_WEBHOOK_ALLOWLIST: '127.0.0.1',
    });
    expect(
      configError(() => parseEnv({ IMAGEGEN_WEBHOOK_ALLOWLIST: 'a!' }, [webhookAllowlistEnv(parse)]))
        .problems,
    ).toEqual([
      { variable: 'IMAGEGEN_WEBHOOK_ALLOWLIST', message: '"a!" is neither a host name nor an IP/CIDR' },
    ]);
  });
});

describe('app fragments', () => {
  it('compose with the shared ones and keep their types', () => {
    const Custom = z.object({ FOO_MS: z.coerce.number().int().default(5) });
    const config = parseEnv({ FOO_MS: '7' }, [RedisEnv, Custom]);
    const fooMs: number = config.FOO_MS;
    expect(fooMs).toBe(7);
  });
});
