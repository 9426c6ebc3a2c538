import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

import type { Logger } from '@imagegen/observability';

import { rateLimited } from '../services/errors.js';
import { addressGroup } from './auth-failures.js';
import { rawAnswer } from './errors.js';

/** Open connections one client address may hold (MAX_CONNECTIONS_PER_ADDRESS). */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Descriptors kept for everything that is not a client connection (Redis, S3, files, the loop). */
const RESERVED_DESCRIPTORS = 128;
/** Open connections, as a share of the descriptor limit, from which the API warns (once a minute). */
const WARN_SHARE = 0.8;

/** This process's soft limit on open files, from /proc (Linux); null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line?.[1] === undefined || line[1] === 'unlimited' ? null : Number(line[1]);
  } catch {
    return null;
  }
}

/**
 * Bounds the connections a client can hold (issue 17: 1,030 idle connections from one address used up the
 * default 1,024 descriptors, and a fresh client could not connect). Each address (IPv6 by /64) may hold
 * `perAddress` connections; one more is answered 429 `rate_limited` in the API's error shape and closed
 * before any request on it is read. All connections together stay under the descriptor limit less a
 * reserve (Node's `maxConnections`: past it a new connection is closed at once), with a warning in the log
 * from 80 % of it.
 */
export function limitConnections(
  server: Server,
  options: { perAddress: number; logger: Logger; fdLimit: number | null },
): void {
  const open = new Map<string, number>();
  let total = 0;
  let warnedAt = 0;
  const { perAddress, logger, fdLimit } = options;
  if (fdLimit !== null) server.maxConnections = Math.max(64, fdLimit - RESERVED_DESCRIPTORS);
  logger.info({ fdLimit, maxConnections: server.maxConnections, perAddress }, 'connection limits');
  // Before Node's HTTP handling sees the socket, so a refused one never reaches a request handler.
  server.prependListener('connection', (socket: Socket) => {
    const address = addressGroup(socket.remoteAddress);
    const held = open.get(address) ?? 0;
    if (held >= perAddress) {
      const refusal = rateLimited(
        `this address already holds ${perAddress} open connections, the most allowed ` +
          '(MAX_CONNECTIONS_PER_ADDRESS): reuse or close idle ones, then retry',
        1,
      );
      socket.pause();
      socket.end(rawAnswer(429, 'Too Many Requests', refusal), () => socket.destroy());
      return;
    }
    open.set(address, held + 1);
    total += 1;
    socket.once('close', () => {
      total -= 1;
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
    if (fdLimit !== null && total >= fdLimit * WARN_SHARE && Date.now() - warnedAt > 60_000) {
      warnedAt = Date.now();
      logger.warn(
        { connections: total, fdLimit },
        'open connections are near the descriptor limit: raise `ulimit -n` or add API processes',
      );
    }
  });
}
