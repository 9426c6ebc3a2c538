import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger } from './logger.js';

describe('logger', () => {
  it('redacts API keys, prompts and presigned URLs, keeps ids', () => {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    createLogger('test', 'info', sink).info(
      {
        req: { headers: { authorization: 'Bearer ig_secret', 'x-key': 'ig_other' } },
        input: { prompt: 'a private prompt' },
        output: { url: 'http://s3/x?X-Amz-Signature=abc' },
        jobId: 'gen_1',
      },
      'job',
    );
    expect(text).toContain('"jobId":"gen_1"');
    expect(text).toContain('"service":"test"');
    for (const secret of ['ig_secret', 'ig_other', 'a private prompt', 'X-Amz-Signature'])
      expect(text).not.toContain(secret);
  });
});
