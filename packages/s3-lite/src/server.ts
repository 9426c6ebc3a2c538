import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { handle } from './router.js';
import { FileStore } from './store.js';
import { textsOf } from './xml.js';

export interface S3LiteOptions {
  /** Where buckets and objects are kept. */
  dir: string;
  /** Interface to bind; default 127.0.0.1 (the server is meant for one trusted machine). */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  region?: string;
  credentials: { accessKey: string; secretKey: string }[];
  /** Largest accepted object; default 64 MiB. */
  maxObjectBytes?: number;
  /** How often bucket lifecycle expiration rules are applied; default 60 s, 0 disables. */
  lifecycleSweepMs?: number;
  /**
   * Time to receive a whole request, headers and body (then 408 and the connection closes); default 60 s.
   * Headers alone get at most 10 s.
   */
  requestTimeoutMs?: number;
}

/**
 * An S3-compatible HTTP server implementing the subset the `minio` client and presigned downloads use:
 * buckets (create, head, delete, list, location, lifecycle), objects (put, get with Range, head, delete,
 * batch delete, ListObjects v1/v2). Every request must carry a valid AWS SigV4 signature (header or
 * presigned query); presigned URLs expire as signed. Lifecycle `Expiration.Days` rules are enforced by a
 * periodic sweep.
 */
export class S3LiteServer {
  private sweepTimer: NodeJS.Timeout | undefined;
  private boundPort: number | undefined = undefined;

  private constructor(
    private readonly server: Server,
    private readonly store: FileStore,
    readonly region: string,
    readonly host: string,
  ) {}

  static async start(options: S3LiteOptions): Promise<S3LiteServer> {
    const store = new FileStore(options.dir);
    await store.buckets(); // creates the root directory
    const secrets = new Map(options.credentials.map((c) => [c.accessKey, c.secretKey]));
    const region = options.region ?? 'us-east-1';
    const maxBytes = options.maxObjectBytes ?? 64 * 2 ** 20;
    const requestTimeout = options.requestTimeoutMs ?? 60_000;
    const server = createServer(
      {
        requestTimeout,
        headersTimeout: Math.min(10_000, requestTimeout),
        connectionsCheckingInterval: Math.min(1000, requestTimeout),
      },
      (req, res) => {
        void handle(req, res, store, secrets, region, maxBytes);
      },
    );
    server.keepAliveTimeout = 5000;
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const s3 = new S3LiteServer(server, store, region, host);
    s3.boundPort = (server.address() as AddressInfo).port; // kept for restarts after close()
    const every = options.lifecycleSweepMs ?? 60_000;
    if (every > 0) {
      s3.sweepTimer = setInterval(() => void s3.applyLifecycle(Date.now()).catch(() => undefined), every);
      s3.sweepTimer.unref();
    }
    return s3;
  }

  /** The bound port (still known after close, so a restart can reuse it). */
  get port(): number {
    this.boundPort ??= (this.server.address() as AddressInfo).port;
    return this.boundPort;
  }

  get endpoint(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Deletes objects past their bucket's lifecycle `Expiration.Days`; returns how many. */
  async applyLifecycle(now: number): Promise<number> {
    let deleted = 0;
    for (const { name } of await this.store.buckets()) {
      const xml = await this.store.readConfig(name, 'lifecycle');
      if (!xml) continue;
      for (const rule of textsOf(xml, 'Rule')) {
        if (textsOf(rule, 'Status')[0] !== 'Enabled') continue;
        const days = Number(textsOf(rule, 'Days')[0]);
        if (!Number.isFinite(days) || days <= 0) continue;
        const prefix = textsOf(rule, 'Prefix')[0] ?? '';
        for (const obj of await this.store.list(name, prefix)) {
          if (obj.lastModified + days * 86_400_000 <= now) {
            await this.store.delete(name, obj.key);
            deleted++;
          }
        }
      }
    }
    return deleted;
  }

  /** Stops accepting connections and closes idle ones. Safe to call twice. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}
