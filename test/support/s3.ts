import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { S3LiteServer } from '@imagegen/s3-lite';

export const S3_CREDENTIALS = { accessKey: 'imagegen-test', secretKey: 'imagegen-test-secret' };

/** A real S3 endpoint on 127.0.0.1 with a free port and a private directory, for one test file. */
export async function startS3(): Promise<{ server: S3LiteServer; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-s3-'));
  const server = await S3LiteServer.start({ dir, credentials: [S3_CREDENTIALS], lifecycleSweepMs: 0 });
  return {
    server,
    stop: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
