import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadApiConfig, startApi } from '@imagegen/api';

import { client, startStack, type TestStack } from '../support/stack.js';

/**
 * The operators' view of every key's jobs: `GET /admin/v1/jobs` and the bull-board queue dashboard at
 * /admin/queues, against a real redis-server (no worker runs, so submitted jobs stay queued).
 */

const ADMIN = `adm_${randomBytes(32).toString('base64url')}`;
let stack: TestStack;
let api: ReturnType<typeof client>;
const admin = { authorization: `Bearer ${ADMIN}` };
const basic = (password: string) => ({
  authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`,
});

interface ListedJob {
  id: string;
  status: string;
  key_id: string;
}
interface Page {
  object: string;
  data: ListedJob[];
  next_cursor: string | null;
}

/** Two keys with jobs of their own: a's three (one canceled), b's two, submitted a, b, a, b, a. */
const submitted: { id: string; keyId: string }[] = [];
let keyA: string;
let keyB: string;

beforeAll(async () => {
  stack = await startStack({ workers: 0, env: { ADMIN_API_KEY: ADMIN } });
  api = client(stack);
  const keys: { id: string; secret: string }[] = [];
  for (const name of ['tenant-a', 'tenant-b']) {
    const r = await api('/admin/v1/keys', { key: null, headers: admin, body: { name } });
    expect(r.status).toBe(201);
    keys.push(r.json as { id: string; secret: string });
  }
  [keyA, keyB] = keys.map((k) => k.id) as [string, string];
  for (const [i, k] of [0, 1, 0, 1, 0].entries()) {
    const r = await api('/v1/images/generations', {
      key: keys[k]!.secret,
      body: { prompt: `a lighthouse at dusk, number ${i}` },
    });
    expect(r.status).toBe(202);
    submitted.push({ id: r.json['id'] as string, keyId: keys[k]!.id });
  }
  const cancel = await api(`/v1/images/generations/${submitted[0]!.id}/cancel`, {
    key: keys[0]!.secret,
    method: 'POST',
  });
  expect(cancel.status).toBe(200);
});
afterAll(async () => {
  await stack.stop();
});

/** Every page of a listing, following next_cursor. */
async function allPages(query: string): Promise<{ jobs: ListedJob[]; pages: number }> {
  const jobs: ListedJob[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep: string = query ? '&' : '';
    const r = await api(`/admin/v1/jobs?${query}${cursor ? `${sep}cursor=${cursor}` : ''}`, {
      key: null,
      headers: admin,
    });
    expect(r.status, r.text).toBe(200);
    const page = r.json as unknown as Page;
    expect(page.object).toBe('list');
    jobs.push(...page.data);
    cursor = page.next_cursor;
    pages++;
    expect(pages, 'paging ends').toBeLessThan(50);
  } while (cursor !== null);
  return { jobs, pages };
}

describe('GET /admin/v1/jobs', () => {
  it("pages through every key's jobs newest first, each once, with its key", async () => {
    const { jobs, pages } = await allPages('limit=2');
    expect(pages).toBeGreaterThanOrEqual(3);
    const ids = jobs.map((j) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Ours, in reverse submit order across both keys (the stack's own key may hold others).
    const ours = jobs.filter((j) => submitted.some((s) => s.id === j.id));
    expect(ours.map((j) => j.id)).toEqual(submitted.map((s) => s.id).reverse());
    for (const j of ours) expect(j.key_id).toBe(submitted.find((s) => s.id === j.id)!.keyId);
    expect(ours.find((j) => j.id === submitted[0]!.id)!.status).toBe('canceled');
  });

  it('keeps one key or some statuses when asked', async () => {
    const a = await allPages(`key_id=${keyA}&limit=1`);
    expect(a.jobs.map((j) => j.id)).toEqual([submitted[4]!.id, submitted[2]!.id, submitted[0]!.id]);
    expect((await allPages(`key_id=${keyB}`)).jobs.map((j) => j.id)).toEqual([
      submitted[3]!.id,
      submitted[1]!.id,
    ]);
    const canceled = await allPages('status=canceled');
    expect(canceled.jobs.map((j) => j.id)).toEqual([submitted[0]!.id]);
    const queuedOfA = await allPages(`status=queued&key_id=${keyA}`);
    expect(queuedOfA.jobs.map((j) => j.status)).toEqual(['queued', 'queued']);
    expect((await allPages(`key_id=${'0'.repeat(12)}`)).jobs).toEqual([]);
  });

  it('answers a bad query 400 naming the parameter, and no admin key 401', async () => {
    for (const [query, param] of [
      ['key_id=nope', 'key_id'],
      ['status=sleeping', 'status'],
      ['limit=0', 'limit'],
      ['cursor=zzz', 'cursor'],
      ['colour=red', undefined],
    ] as const) {
      const r = await api(`/admin/v1/jobs?${query}`, { key: null, headers: admin });
      expect(r.status, query).toBe(400);
      const error = r.json['error'] as { code: string; param?: string; message: string };
      expect(error.code).toBe('invalid_request');
      if (param) expect(error.param ?? JSON.stringify(r.json)).toContain(param);
    }
    expect((await api('/admin/v1/jobs')).status).toBe(401);
    expect((await api('/admin/v1/jobs', { key: null, headers: basic(ADMIN) })).status).toBe(401);
  });
});

describe('the queue dashboard at /admin/queues', () => {
  const board = (path: string, init: RequestInit = {}) => fetch(`${stack.base}/admin/queues${path}`, init);

  it('asks a browser for the admin key (HTTP Basic) and shows BullMQ’s queues once given it', async () => {
    const none = await board('');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="imagegen admin"/);
    expect((await board('', { headers: basic(`${ADMIN}x`) })).status).toBe(401);
    expect((await board('', { headers: { authorization: `Bearer ${stack.key}` } })).status).toBe(401);

    const page = await board('/', { headers: basic(ADMIN) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<base href="\/admin\/queues\/?"/);
    // Its scripts are served under the same path, behind the same key (the browser resends it).
    const script = /src="(static\/js\/main[^"]+)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await board(`/${script}`)).status).toBe(401);
    const js = await board(`/${script}`, { headers: basic(ADMIN) });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);

    const r = await board('/api/queues', { headers: basic(ADMIN) });
    expect(r.status).toBe(200);
    const { queues } = (await r.json()) as {
      queues: { name: string; readOnlyMode: boolean; counts: Record<string, number> }[];
    };
    expect(queues.map((q) => q.name).sort()).toEqual(['generations', 'webhooks']);
    const generations = queues.find((q) => q.name === 'generations')!;
    expect(generations.readOnlyMode).toBe(true);
    // The four uncanceled jobs wait in BullMQ (no worker runs here), prioritized by the fair order.
    expect((generations.counts['waiting'] ?? 0) + (generations.counts['prioritized'] ?? 0)).toBe(4);
    // Scripts may use the bearer form.
    expect((await board('/api/queues', { headers: admin })).status).toBe(200);
  });

  it('changes nothing in BullMQ, and refuses requests another site makes', async () => {
    const add = await board('/api/queues/generations/add', {
      method: 'POST',
      headers: { ...basic(ADMIN), 'content-type': 'application/json', origin: stack.base },
      body: JSON.stringify({ name: 'generate', data: {} }),
    });
    expect(add.status).toBe(405);
    const crossSite = await board('/api/queues/generations/add', {
      method: 'POST',
      headers: { ...basic(ADMIN), 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ name: 'generate', data: {} }),
    });
    expect(crossSite.status).toBe(403);
    expect(((await crossSite.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const fetchMeta = await board('/api/queues/pause', {
      method: 'PUT',
      headers: { ...basic(ADMIN), 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchMeta.status).toBe(403);
  });

  it('is not there without ADMIN_API_KEY', async () => {
    const env = { ...stack.env };
    delete env['ADMIN_API_KEY'];
    const plain = await startApi(loadApiConfig(env));
    try {
      for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/v1/jobs']) {
        const r = await fetch(`http://127.0.0.1:${plain.port}${path}`, { headers: basic(ADMIN) });
        expect(r.status, path).toBe(404);
      }
    } finally {
      await plain.close();
    }
  });
});
