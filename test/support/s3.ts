import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { S3LiteServer } from '@imagegen/s3-lite';

export const S3_CREDENTIALS = { accessKey: 'imagegen-test', secretKey: 'imagegen-test-secret' };

export interface TestS3 {
  server: S3LiteServer;
  /** Stops the endpoint, keeping its data (failure injection: "S3 is down"). */
  pause: () => Promise<void>;
  /** Starts it again on the same port with the same data. */
  resume: () => Promise<void>;
  stop: () => Promise<void>;
}

/** A real S3 endpoint on 127.0.0.1 with a free port and a private directory, for one test file. */
export async function startS3(): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'imagegen-s3-'));
  const options = { dir, credentials: [S3_CREDENTIALS], lifecycleSweepMs: 0 };
  const handle: TestS3 = {
    server: await S3LiteServer.start(options),
    pause: () => handle.server.close(),
    resume: async () => {
      handle.server = await S3LiteServer.start({ ...options, port: handle.server.port });
    },
    stop: async () => {
      await handle.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
