import type { NextFunction, Request, Response } from 'express';

import { rateLimited } from '../services/errors.js';
import { clientAddress } from './auth-failures.js';

/** Requests per client address and minute to the unauthenticated routes (OPS_RATE_LIMIT_PER_MINUTE). */
export const DEFAULT_OPS_RATE_LIMIT_PER_MINUTE = 600;
/** Addresses remembered at once; the least recently seen is forgotten first. */
const MAX_ADDRESSES = 10_000;

/**
 * A token bucket per client address for the routes that take no key (/healthz, /readyz, /metrics,
 * /openapi.json), kept in this process's memory: probes must not depend on Redis, and a flood of them
 * must not cost every tenant (issue 17: eight clients flooding /metrics and /readyz pushed the API to
 * 100 % CPU). 429 with Retry-After once an address has spent its budget.
 */
export function opsRateLimit(perMinute: number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = perMinute / 60_000;
  return (req: Request, res: Response, next: NextFunction): void => {
    const address = clientAddress(req);
    const now = Date.now();
    const b = buckets.get(address) ?? { tokens: perMinute, at: now };
    buckets.delete(address);
    b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * perMs);
    b.at = now;
    buckets.set(address, b);
    if (buckets.size > MAX_ADDRESSES) buckets.delete(buckets.keys().next().value!);
    if (b.tokens < 1) {
      res.setHeader('RateLimit-Limit', String(perMinute));
      throw rateLimited(
        `this address is limited to ${perMinute} requests per minute to the operations routes; retry after the Retry-After delay`,
        Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)),
      );
    }
    b.tokens -= 1;
    next();
  };
}
