import { AppError } from '@imagegen/contracts';

import { rateLimited } from './errors.js';

export type HeldKind = 'stream' | 'wait';

/** A held request: `signal` aborts when the key is revoked; `release` when the request ends. */
export interface Held {
  readonly signal: AbortSignal;
  release(): void;
}

/** What ends a held wait or stream of a revoked key: 401, as the next request with the key gets. */
export const keyRevoked = () => new AppError('unauthorized', 'the API key was revoked', { httpStatus: 401 });

/**
 * The event streams and long waits each API key holds open in this process (issue 17, finding 6: one key
 * opened 1,000 streams and 300 waits; finding 11: a revoked key's streams and waits went on). Each key
 * holds at most `limits.stream` streams and `limits.wait` waits; one more is refused 429 with Retry-After.
 * `revoke(keyId)` ends every one the key holds.
 */
export class OpenRequests {
  private readonly held = new Map<string, Map<AbortController, HeldKind>>();

  constructor(private readonly limits: Readonly<Record<HeldKind, number>>) {}

  /** Takes a place for one more stream or wait of `keyId`, or throws 429 `rate_limited`. */
  enter(keyId: string, kind: HeldKind): Held {
    let mine = this.held.get(keyId);
    let count = 0;
    for (const k of mine?.values() ?? []) if (k === kind) count++;
    if (count >= this.limits[kind]) {
      const setting = kind === 'stream' ? 'MAX_STREAMS_PER_KEY' : 'MAX_WAITS_PER_KEY';
      throw rateLimited(
        `this API key already holds ${this.limits[kind]} open ${kind === 'stream' ? 'event streams' : 'waits'} ` +
          `here, the most allowed (${setting}): close one, or poll, then retry`,
        2,
      );
    }
    if (!mine) {
      mine = new Map();
      this.held.set(keyId, mine);
    }
    const controller = new AbortController();
    mine.set(controller, kind);
    let released = false;
    return {
      signal: controller.signal,
      release: () => {
        if (released) return;
        released = true;
        mine.delete(controller);
        if (mine.size === 0 && this.held.get(keyId) === mine) this.held.delete(keyId);
      },
    };
  }

  /** Ends every stream and wait `keyId` holds here; returns how many. */
  revoke(keyId: string): number {
    const mine = this.held.get(keyId);
    if (!mine) return 0;
    this.held.delete(keyId);
    for (const controller of mine.keys()) controller.abort(keyRevoked());
    return mine.size;
  }

  /** How many of each kind `keyId` holds here (for tests and metrics). */
  count(keyId: string): Record<HeldKind, number> {
    const out = { stream: 0, wait: 0 };
    for (const k of this.held.get(keyId)?.values() ?? []) out[k]++;
    return out;
  }
}
