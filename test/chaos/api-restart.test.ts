import type { ChildProcess } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { exited, serving, spawnService, until } from '../support/processes.js';
import { freePort } from '../support/redis.js';
import { slowModel } from '../support/slow-model.js';
import { startStack, type TestStack } from '../support/stack.js';

// The API runs as its own process on a fixed port, so it can be stopped and started again while clients
// wait on it; a worker in this process generates slowly enough for the restart to fall inside the job.
let stack: TestStack;
let port: number;
let base: string;
const slow = slowModel(400);
beforeAll(async () => {
  stack = await startStack({ workers: 0 });
  await stack.addWorker({ MODEL_DIR: slow.dir });
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await stack.stop();
  slow.cleanup();
});

const startApi = async (): Promise<ChildProcess> => {
  const proc = spawnService('api', { ...stack.env, PORT: String(port) });
  await serving(`${base}/healthz`);
  return proc;
};
const headers = () => ({ authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' });

/** A client's back-off after a failed request: try again once the API answers again. */
const apiBack = () => serving(`${base}/healthz`);

/** A long-polling client that retries through errors and non-terminal answers, as clients should. */
async function pollUntilTerminal(id: string, log: string[]): Promise<Record<string, unknown>> {
  for (;;) {
    try {
      const r = await fetch(`${base}/v1/images/generations/${id}?wait=30`, { headers: headers() });
      const job = (await r.json()) as Record<string, unknown>;
      log.push(`${r.status}:${String(job['status'])}`);
      if (['succeeded', 'failed', 'moderated', 'canceled', 'expired'].includes(String(job['status'])))
        return job;
    } catch (e) {
      log.push(`error:${(e as Error).message}:${String((e as { cause?: unknown }).cause)}`);
      await apiBack();
    }
  }
}

/** An SSE client that reconnects with Last-Event-ID until it has seen the terminal event. */
async function streamUntilTerminal(
  id: string,
  log: string[],
): Promise<{ id: string; event: string; data: string }[]> {
  const events: { id: string; event: string; data: string }[] = [];
  let last: string | null = null;
  for (;;) {
    try {
      const r = await fetch(`${base}/v1/images/generations/${id}/events`, {
        headers: { ...headers(), ...(last ? { 'last-event-id': last } : {}) },
      });
      log.push(`connected:${last ?? '-'}`);
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2);
          const evId = field('id');
          if (!evId) continue;
          events.push({ id: evId, event: field('event') ?? '', data: field('data') ?? '' });
          last = evId;
          if (field('event') === 'completed') return events;
        }
      }
      log.push('ended');
    } catch (e) {
      log.push(`error:${(e as Error).message}:${String((e as { cause?: unknown }).cause)}`);
    }
    await apiBack();
  }
}

const order = (a: string, b: string) => {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
};

describe.each([
  ['SIGTERM (graceful restart)', 'SIGTERM'],
  ['SIGKILL (crash)', 'SIGKILL'],
] as const)('API restart by %s during long waits and event streams', (_name, signal) => {
  it('clients reconnect and still get the result, each event exactly once', async () => {
    let api = await startApi();
    try {
      const submitted = await fetch(`${base}/v1/images/generations`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify({ prompt: 'a blue square', aspect_ratio: '1:1' }),
      });
      expect(submitted.status).toBe(202);
      const id = ((await submitted.json()) as { id: string }).id;
      const pollLog: string[] = [];
      const streamLog: string[] = [];
      const polled = pollUntilTerminal(id, pollLog);
      const streamed = streamUntilTerminal(id, streamLog);
      // Both clients are waiting on this process, and the job is running.
      await until('the job to make progress', async () => {
        const r = await fetch(`${base}/v1/images/generations/${id}`, { headers: headers() });
        const job = (await r.json()) as { progress: number };
        return job.progress > 0.05 && streamLog.length > 0;
      });
      const [polls, streams] = [pollLog.length, streamLog.length];
      api.kill(signal);
      await exited(api);
      // Both clients have lost this process (an answer, an error or an ended stream) before it comes back.
      await until(
        'both clients to see the API go',
        () => pollLog.length > polls && streamLog.length > streams,
      );
      api = await startApi();

      const job = await polled;
      const events = await streamed;
      if (signal === 'SIGTERM') {
        // A graceful stop answers the open wait with the job as it is and ends the stream cleanly.
        expect(pollLog[0]).toMatch(/^200:(queued|processing)$/);
        expect(streamLog.slice(0, 2)).toEqual(['connected:-', 'ended']);
      }
      expect(job['status']).toBe('succeeded');
      // The disruption was real: the poller and the stream each had to come back.
      expect(pollLog.length).toBeGreaterThan(1);
      expect(streamLog.filter((l) => l.startsWith('connected')).length).toBeGreaterThan(1);
      const ids = events.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort(order)).toEqual(ids);
      expect(events.filter((e) => e.event === 'completed')).toHaveLength(1);
      expect(events.filter((e) => e.event === 'started')).toHaveLength(1);
      const terminal = JSON.parse(events.at(-1)!.data) as { status: string; image_url: string };
      expect(terminal.status).toBe('succeeded');
      expect((await fetch(terminal.image_url)).status).toBe(200);
    } finally {
      api.kill('SIGKILL');
      await exited(api);
    }
  });
});
