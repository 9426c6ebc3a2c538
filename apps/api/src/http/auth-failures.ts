import type { Request } from 'express';

import type { RateLimiter } from '@imagegen/access';

import { rateLimited } from '../services/errors.js';

/** Failed authentications budgeted per client address and minute (AUTH_FAILURES_PER_MINUTE). */
export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 30;

/**
 * A token bucket of failed authentications (wrong API keys and wrong admin keys together) per client
 * address: `perMinute` failures, refilled at that rate. Once spent, every request from the address that
 * needs a key is answered 429 with Retry-After before any key is checked, so guessing gains nothing by
 * going faster (issue 17: 100 wrong admin keys in 0.2 s were each answered).
 */
export interface AuthFailureBudget {
  limiter: RateLimiter;
  perMinute: number;
}

/**
 * The client address a budget is kept for: the TCP peer (behind a reverse proxy, the proxy), an
 * IPv4-mapped IPv6 peer as IPv4, and an IPv6 peer by its /64 (what one host is usually given).
 */
export function clientAddress(req: Request): string {
  return addressGroup(req.socket.remoteAddress);
}

/** A peer address as the limits count it: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64. */
export function addressGroup(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

const bucket = (req: Request) => `authfail:${clientAddress(req)}`;

/** Throws 429 `rate_limited` when the client's failure budget is spent; takes nothing. */
export async function checkAuthBudget(budget: AuthFailureBudget, req: Request): Promise<void> {
  const t = await budget.limiter.take(bucket(req), budget.perMinute, 0);
  if (!t.allowed) {
    throw rateLimited(
      'too many failed authentications from this address; retry after the Retry-After delay',
      Math.max(1, Math.ceil(t.retryAfterMs / 1000)),
    );
  }
}

/** Counts one failed authentication against the client's budget. */
export async function chargeAuthFailure(budget: AuthFailureBudget, req: Request): Promise<void> {
  await budget.limiter.take(bucket(req), budget.perMinute);
}

/**
 * The credentials of an `Authorization` header with the Bearer scheme, matched case-insensitively as
 * RFC 9110 §11.1 says auth-schemes are (`bearer`, `BEARER`); undefined for another scheme or none.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^bearer +(.*)$/i.exec(header);
  return m ? m[1]!.trim() : undefined;
}
