import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

import {
  addressRefusal,
  guardedLookup,
  urlHost,
  urlPort,
  urlRefusal,
  type Allowlist,
  type LookupFn,
} from './ssrf.js';

export interface DeliveryRequest {
  url: string;
  /** The exact bytes to send (what was signed). */
  body: string;
  headers: Record<string, string>;
  allowlist: Allowlist;
  /** The whole exchange must finish within this (default 15 s). */
  timeoutMs?: number;
  /** Name resolution; tests inject one to play DNS rebinding. */
  lookup?: LookupFn;
  /** TLS trust for https targets (tests with a self-signed receiver). */
  ca?: string | Buffer;
}

/**
 * What went wrong, as recorded on the job (its `webhook.last_error`), which the job's owner reads: a
 * class, never the details (whether a name resolved, a port was closed, what answered) that would map
 * the server's network. `connect_failed`: no connection (name resolution, refused or reset connection,
 * TLS, a target the SSRF policy refuses); `timeout`: no complete answer in time; `http_status`: an
 * answer other than 2xx.
 */
export type DeliveryErrorClass = 'connect_failed' | 'timeout' | 'http_status';

export type DeliveryResult =
  | { ok: true; status: number }
  | {
      ok: false;
      /** HTTP status when the receiver answered. */
      status: number | null;
      error: DeliveryErrorClass;
      /** For the server's log only: an error code (`ECONNREFUSED`, `ESSRF`) or the status; no target. */
      detail: string;
      /** Stop retrying: 410 Gone, or a target that may never be reached. */
      permanent: boolean;
      /** From a Retry-After header on 429/503. */
      retryAfterMs: number | null;
    };

const MAX_RESPONSE_BYTES = 64 * 1024;

function retryAfter(res: IncomingMessage, now = Date.now()): number | null {
  const v = res.headers['retry-after'];
  if (!v) return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * One POST attempt. Success is a 2xx only; redirects are failures and never followed; the response body
 * is read (up to 64 KiB) and discarded. Never throws: every outcome is a DeliveryResult.
 */
export function deliver(req: DeliveryRequest): Promise<DeliveryResult> {
  const timeoutMs = req.timeoutMs ?? 15_000;
  const fail = (error: DeliveryErrorClass, detail: string, permanent: boolean): DeliveryResult => ({
    ok: false,
    status: null,
    error,
    detail,
    permanent,
    retryAfterMs: null,
  });
  if (urlRefusal(req.url, req.allowlist)) return Promise.resolve(fail('connect_failed', 'ESSRF', true));
  const url = new URL(req.url);
  const host = urlHost(url);
  const port = urlPort(url);
  // Node skips `lookup` for IP literals, so they are checked here (urlRefusal did) — and names go
  // through the guarded lookup, which checks the address actually dialled.
  if (isIP(host) !== 0 && addressRefusal(host, req.allowlist, port)) {
    return Promise.resolve(fail('connect_failed', 'ESSRF', true));
  }
  let timedOut = false;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(req.allowlist, req.lookup, port) as never,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(req.body)),
          'user-agent': 'imagegen-webhooks/1',
          ...req.headers,
        },
        ...(req.ca ? { ca: req.ca } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > MAX_RESPONSE_BYTES) res.destroy();
        });
        const done = () => {
          if (status >= 200 && status < 300) settle({ ok: true, status });
          else
            settle({
              ok: false,
              status,
              error: 'http_status',
              detail:
                status >= 300 && status < 400
                  ? `HTTP ${status} (redirects are not followed)`
                  : `HTTP ${status}`,
              permanent: status === 410,
              retryAfterMs: status === 429 || status === 503 ? retryAfter(res) : null,
            });
        };
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    outgoing.on('error', (e: NodeJS.ErrnoException) => {
      if (timedOut) settle(fail('timeout', `no answer within ${timeoutMs} ms`, false));
      else settle(fail('connect_failed', e.code ?? 'ERROR', e.code === 'ESSRF'));
    });
    outgoing.end(req.body);
  });
}
