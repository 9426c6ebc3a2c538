import type { Request } from 'express';
import { describe, expect, it } from 'vitest';

import { bearerToken, clientAddress } from './auth-failures.js';

const from = (remoteAddress: string) => ({ socket: { remoteAddress } }) as unknown as Request;

describe('the failed-authentication budget', () => {
  it('is kept per IPv4 address, and per /64 for IPv6 (one host’s usual share)', () => {
    expect(clientAddress(from('203.0.113.7'))).toBe('203.0.113.7');
    expect(clientAddress(from('::ffff:203.0.113.7'))).toBe('203.0.113.7');
    expect(clientAddress(from('2001:db8:1:2:aaaa::1'))).toBe('2001:db8:1:2::/64');
    expect(clientAddress(from('2001:db8:1:2:bbbb:cccc:dddd:eeee'))).toBe('2001:db8:1:2::/64');
    expect(clientAddress(from('2001:db8::1'))).toBe('2001:db8:0:0::/64');
    expect(clientAddress(from('::1'))).toBe('0:0:0:0::/64');
  });

  it('reads the Bearer scheme in any case (RFC 9110 §11.1), nothing else', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('BEARER  abc ')).toBe('abc');
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
