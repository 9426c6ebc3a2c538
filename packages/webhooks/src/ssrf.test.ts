import { describe, expect, it } from 'vitest';

import { deliver } from './deliver.js';
import {
  addressRefusal,
  EMPTY_ALLOWLIST,
  parseAllowlist,
  urlRefusal,
  webhookUrlRefusal,
  type LookupFn,
} from './ssrf.js';

const resolvesTo =
  (...addresses: string[]): LookupFn =>
  (_host, _opts, cb) =>
    cb(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

describe('SSRF address policy', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.100.100.200',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '198.18.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    'fc00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '2002:7f00:1::',
    '64:ff9b::7f00:1',
    '2001::1',
    '2001:db8::1',
    // IPv4-compatible IPv6 (::/96, deprecated by RFC 4291 §2.5.5.1), in every spelling.
    '::7f00:1',
    '::127.0.0.1',
    '0:0:0:0:0:0:127.0.0.1',
    '::a9fe:a9fe',
    '::10.0.0.1',
    '::8.8.8.8',
    '::ffff:0:7f00:1',
    '64:ff9b:1::7f00:1',
    '2001:0:4136:e378:8000:63bf:80ff:fffe',
    '100::1',
  ])('refuses %s', (address) => {
    expect(addressRefusal(address)).not.toBeNull();
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (address) => {
      expect(addressRefusal(address)).toBeNull();
    },
  );

  it('lets the allow-list open single addresses and ranges, nothing more', () => {
    const allow = parseAllowlist(' localhost, 127.0.0.1 ,10.1.0.0/16,[::1]');
    expect(addressRefusal('127.0.0.1', allow)).toBeNull();
    expect(addressRefusal('::ffff:127.0.0.1', allow)).toBeNull();
    expect(addressRefusal('::1', allow)).toBeNull();
    expect(addressRefusal('10.1.200.3', allow)).toBeNull();
    expect(addressRefusal('10.2.0.1', allow)).not.toBeNull();
    expect(addressRefusal('127.0.0.2', allow)).not.toBeNull();
    expect(() => parseAllowlist('10.0.0.0/99')).toThrow(/not a valid CIDR/);
    expect(() => parseAllowlist('127.0.0.1:0')).toThrow(/port/);
    expect(() => parseAllowlist('127.0.0.1:99999')).toThrow(/port/);
    expect(() => parseAllowlist('bad host!')).toThrow(/neither a host name/);
  });
});

const NOT_PUBLIC = 'its host does not resolve to public addresses only';

describe('webhook URL checks', () => {
  it.each([
    ['http://example.com/hook', /must use https/],
    ['ftp://example.com/hook', /https URL/],
    ['not a url', /absolute URL/],
    ['https://user:pw@example.com/', /credentials/],
    ['https://127.0.0.1/', /loopback/],
    ['https://2130706433/', /loopback/],
    ['https://0177.0.0.1/', /loopback/],
    ['https://0x7f.1/', /loopback/],
    ['https://127.1/', /loopback/],
    ['https://[::1]/', /loopback/],
    ['https://[::ffff:127.0.0.1]/', /loopback/],
    ['https://[::ffff:a9fe:a9fe]/', /link-local/],
    ['https://169.254.169.254/latest/meta-data/', /link-local/],
    ['https://[fd00:ec2::254]/', /unique-local/],
    ['https://0.0.0.0/', /unspecified/],
    ['https://100.64.1.1/', /carrier-grade NAT/],
  ])('refuses %s', (url, why) => {
    expect(urlRefusal(url)).toMatch(why);
  });

  // Every spelling of loopback and the metadata address, at submit (with name resolution) and at delivery.
  it.each([
    'https://127.0.0.1/',
    'https://127.000.000.001/',
    'https://2130706433/',
    'https://017700000001/',
    'https://0x7f000001/',
    'https://0x7f.1/',
    'https://0177.0.0.1/',
    'https://127.1/',
    'https://[::1]/',
    'https://[0:0:0:0:0:0:0:1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:7f00:1]/',
    'https://[0:0:0:0:0:ffff:7f00:1]/',
    'https://[::127.0.0.1]/',
    'https://[::7f00:1]/',
    'https://[0:0:0:0:0:0:127.0.0.1]/',
    'https://[::169.254.169.254]/',
    'https://[::a9fe:a9fe]/',
    'https://[::ffff:0:7f00:1]/',
    'https://[64:ff9b::7f00:1]/',
    'https://[64:ff9b:1::7f00:1]/',
    'https://[2002:7f00:1::]/',
    'https://169.254.169.254/',
    'https://[::ffff:a9fe:a9fe]/',
    'https://[fd00:ec2::254]/',
  ])('refuses %s at submit and at delivery', async (url) => {
    expect(urlRefusal(url)).toMatch(/which webhooks may not reach/);
    await expect(webhookUrlRefusal(url, undefined, resolvesTo('8.8.8.8'))).resolves.not.toBeNull();
    const result = await deliver({ url, body: '{}', headers: {}, allowlist: EMPTY_ALLOWLIST });
    expect(result).toMatchObject({ ok: false, permanent: true });
  });

  it('refuses a name resolving to an IPv4-compatible address, at submit and at connect', async () => {
    await expect(
      webhookUrlRefusal('https://compat.example/', undefined, resolvesTo('::7f00:1')),
    ).resolves.toBe(NOT_PUBLIC);
    const result = await deliver({
      url: 'https://compat.example/',
      body: '{}',
      headers: {},
      allowlist: EMPTY_ALLOWLIST,
      lookup: resolvesTo('::127.0.0.1'),
    });
    expect(result).toMatchObject({ ok: false, permanent: true });
  });

  it('allows https to public hosts and http only to allow-listed ones', () => {
    expect(urlRefusal('https://hooks.example.com/imagegen?x=1')).toBeNull();
    expect(urlRefusal('https://93.184.216.34:8443/')).toBeNull();
    const allow = parseAllowlist('localhost,127.0.0.1');
    expect(urlRefusal('http://127.0.0.1:9999/hook', allow)).toBeNull();
    expect(urlRefusal('http://localhost:9999/hook', allow)).toBeNull();
    expect(urlRefusal('http://127.0.0.2:9999/hook', allow)).toMatch(/https/);
  });

  it('opens only the named port of an allow-list entry with one', () => {
    const allow = parseAllowlist('127.0.0.1:9999, localhost:8080, [::1]:9999');
    expect(urlRefusal('http://127.0.0.1:9999/hook', allow)).toBeNull();
    expect(urlRefusal('http://[::ffff:127.0.0.1]:9999/hook', allow)).toBeNull();
    expect(urlRefusal('http://localhost:8080/hook', allow)).toBeNull();
    expect(urlRefusal('http://[::1]:9999/hook', allow)).toBeNull();
    expect(urlRefusal('http://127.0.0.1:6379/', allow)).toMatch(/https/);
    expect(urlRefusal('https://127.0.0.1:6379/', allow)).toMatch(/loopback/);
    expect(urlRefusal('https://127.0.0.1/', allow)).toMatch(/loopback/);
    expect(urlRefusal('http://localhost:6379/', allow)).toMatch(/https/);
    expect(addressRefusal('127.0.0.1', allow, 9999)).toBeNull();
    expect(addressRefusal('127.0.0.1', allow, 9998)).toMatch(/loopback/);
    expect(addressRefusal('127.0.0.1', allow)).toMatch(/loopback/);
  });

  it('resolves names at submit time and refuses any private answer', async () => {
    await expect(
      webhookUrlRefusal('https://hooks.example/', undefined, resolvesTo('8.8.8.8')),
    ).resolves.toBeNull();
    await expect(
      webhookUrlRefusal('https://rebind.example/', undefined, resolvesTo('8.8.8.8', '127.0.0.1')),
    ).resolves.toBe(NOT_PUBLIC);
    await expect(
      webhookUrlRefusal('https://meta.example/', undefined, resolvesTo('169.254.169.254')),
    ).resolves.toBe(NOT_PUBLIC);
    // A name that does not resolve reads the same as one resolving to a private address: the answer
    // must not map the server's network (which internal names exist, and where they point).
    const failing: LookupFn = (_h, _o, cb) => cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }), []);
    await expect(webhookUrlRefusal('https://nowhere.example/', undefined, failing)).resolves.toBe(NOT_PUBLIC);
    await expect(webhookUrlRefusal('https://empty.example/', undefined, resolvesTo())).resolves.toBe(
      NOT_PUBLIC,
    );
    // A name on the allow-list is trusted whatever it resolves to.
    await expect(
      webhookUrlRefusal('http://localhost:1/', parseAllowlist('localhost'), resolvesTo('127.0.0.1')),
    ).resolves.toBeNull();
  });
});
