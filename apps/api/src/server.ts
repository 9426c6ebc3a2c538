import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

import type { ErrorCode } from '@imagegen/contracts';
import { createLogger, createMetrics, type Logger } from '@imagegen/observability';
import {
  ApiKeyStore,
  connectRedis,
  generationQueue,
  JobStore,
  Keys,
  waitReady,
  type Redis,
} from '@imagegen/jobs';
import { storageFromEnv } from '@imagegen/storage';
import { createModerator } from '@imagegen/prompt';
import { parseAllowlist } from '@imagegen/webhooks';

import { createApp } from './app.js';
import type { ApiConfig } from './config.js';
import { EventHub } from './event-hub.js';

export interface RunningApi {
  port: number;
  logger: Logger;
  apiKeys: ApiKeyStore;
  /** Stops accepting requests, ends open streams, closes connections. Idempotent. */
  close: () => Promise<void>;
}

const CLIENT_ERRORS: Record<string, [number, string, ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'Request Header Fields Too Large',
    'invalid_request',
    'the request headers are too large',
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    413,
    'Payload Too Large',
    'payload_too_large',
    'the chunk extensions are too large',
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'timeout', 'the request was not received in time'],
};

/**
 * Malformed HTTP (bad request line, bad header, bad framing) never reaches Express: Node answers a bare
 * 400. Answer it in the API's error shape instead, then drop the connection, as Node would.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  // Nothing to answer on a reset or closed connection, nor once a response has begun on this one.
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const [status, reason, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [
      400,
      'Bad Request',
      'invalid_request',
      'the request is not valid HTTP/1.1',
    ];
    const requestId = `req_${randomBytes(12).toString('hex')}`;
    const body = JSON.stringify({ success: false, error: { code, message }, request_id: requestId });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n' +
        'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}

/** Builds the API's adapters from its config and listens. */
export async function startApi(config: ApiConfig): Promise<RunningApi> {
  const logger = createLogger('api', config.LOG_LEVEL);
  const metrics = createMetrics('api');
  const keys = new Keys(config.REDIS_PREFIX);
  const redis: Redis = connectRedis(config.REDIS_URL, 'request');
  const subscriber: Redis = connectRedis(config.REDIS_URL, 'subscriber');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  // BullMQ's producer needs Redis at start; afterwards request-path calls fail fast (503) while it is down.
  await waitReady(redis, 30_000);
  const jobs = new JobStore(redis, config.REDIS_PREFIX, config.JOB_RETENTION_S);
  const apiKeys = new ApiKeyStore(redis, config.REDIS_PREFIX);
  const queue = generationQueue(redis, config.REDIS_PREFIX);
  queue.on('error', (err) => logger.warn({ err: err.message }, 'queue error'));
  const storage = storageFromEnv(config);
  // Best effort: /readyz reports the bucket as not ready until someone (api, worker, compose set-up) creates it.
  await storage.ensureBucket().catch((err: unknown) => logger.warn({ err }, 'bucket not ready'));
  const hub = await EventHub.start(subscriber, keys.eventsChannel());
  const shutdown = new AbortController();
  // Every open wait and event stream listens for shutdown: no listener limit.
  setMaxListeners(0, shutdown.signal);
  const app = createApp({
    shutdown: shutdown.signal,
    config,
    jobs,
    apiKeys,
    queue,
    storage,
    hub,
    metrics,
    logger,
    pingRedis: async () => (await redis.ping().catch(() => '')) === 'PONG',
    webhookAllowlist: parseAllowlist(config.IMAGEGEN_WEBHOOK_ALLOWLIST),
    moderator: createModerator(config.moderation),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(config.PORT, config.HOST, () => resolve(s));
  });
  server.on('clientError', answerClientError);
  // An Expect other than 100-continue: Node would answer a bare 417.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const requestId = `req_${randomBytes(12).toString('hex')}`;
    const body = JSON.stringify({
      success: false,
      error: {
        code: 'invalid_request',
        message: 'the Expect header cannot be met: remove it',
        param: 'Expect',
      },
      request_id: requestId,
    });
    res
      .writeHead(417, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
        'X-Request-Id': requestId,
        'X-Content-Type-Options': 'nosniff',
        'X-Frame-Options': 'DENY',
        'Referrer-Policy': 'no-referrer',
        'Cache-Control': 'no-store',
        Connection: 'close',
      })
      .end(body);
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 0; // long waits and event streams are bounded by the handlers themselves
  const port = (server.address() as { port: number }).port;
  logger.info({ port }, 'api listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    logger,
    apiKeys,
    close: () => {
      closing ??= (async () => {
        // Stop accepting; answer open waits and end event streams (clients come back with their
        // Last-Event-ID); give in-flight requests a moment, then cut what is left.
        shutdown.abort();
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const cut = setTimeout(() => server.closeAllConnections(), 3000);
        await closed;
        clearTimeout(cut);
        hub.close();
        await Promise.allSettled([queue.close(), redis.quit()]);
      })();
      return closing;
    },
  };
}
