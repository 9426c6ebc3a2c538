/**
 * Who may make a webhook attempt now (issue 17, finding 1: one shared pool of delivery slots let a key
 * whose receiver never answers delay every other key's webhooks by tens of seconds).
 *
 * - At most `perTarget` attempts in flight to one target (its origin: scheme, host and port) and
 *   `perKey` for one API key, so a slow receiver holds only its own slots.
 * - A circuit breaker per target: after `failuresToOpen` failed attempts in a row its deliveries are parked
 *   for a cool-down (doubling up to `maxCooldownMs` while it keeps failing); then one attempt probes it,
 *   and a success closes the circuit.
 *
 * A delivery that may not go now is not held in a delivery slot: the caller defers it (back to the queue,
 * delayed, without spending an attempt) by the time this answers. State is per dispatcher process.
 */
export interface GateLimits {
  perTarget: number;
  perKey: number;
  failuresToOpen: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export type Refusal = 'target_busy' | 'key_busy' | 'circuit_open';

export type Admission =
  | { ok: true; done: (outcome: 'success' | 'failure') => void }
  | { ok: false; reason: Refusal; retryInMs: number };

interface Circuit {
  failures: number;
  /** When the open circuit lets a probe through; 0 while closed. */
  openUntil: number;
  cooldownMs: number;
  probing: boolean;
}

/** How long a delivery refused for a busy target or key waits before it asks again (jittered). */
const BUSY_RETRY_MS = 500;

/** The origin a delivery counts against: `https://host:port` with the default port spelled out. */
export function targetOf(url: string): string {
  const u = new URL(url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return `${u.protocol}//${u.hostname}:${port}`;
}

export class DeliveryGate {
  private readonly targets = new Map<string, number>();
  private readonly keys = new Map<string, number>();
  private readonly circuits = new Map<string, Circuit>();

  constructor(
    private readonly limits: GateLimits,
    private readonly random: () => number = Math.random,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Targets whose circuit is open now. */
  openCircuits(): number {
    const now = this.clock();
    let n = 0;
    for (const c of this.circuits.values()) if (c.openUntil > now || c.probing) n++;
    return n;
  }

  admit(target: string, keyId: string): Admission {
    const now = this.clock();
    const circuit = this.circuits.get(target);
    let probe = false;
    if (circuit && circuit.openUntil > 0) {
      if (circuit.openUntil > now || circuit.probing) {
        const wait = circuit.probing ? circuit.cooldownMs : circuit.openUntil - now;
        return { ok: false, reason: 'circuit_open', retryInMs: this.jitter(Math.max(wait, BUSY_RETRY_MS)) };
      }
      probe = true; // cooled down: this attempt tells whether the target is back
    }
    if ((this.targets.get(target) ?? 0) >= this.limits.perTarget)
      return { ok: false, reason: 'target_busy', retryInMs: this.jitter(BUSY_RETRY_MS) };
    if ((this.keys.get(keyId) ?? 0) >= this.limits.perKey)
      return { ok: false, reason: 'key_busy', retryInMs: this.jitter(BUSY_RETRY_MS) };
    if (probe) circuit!.probing = true;
    bump(this.targets, target, 1);
    bump(this.keys, keyId, 1);
    let settled = false;
    return {
      ok: true,
      done: (outcome) => {
        if (settled) return;
        settled = true;
        bump(this.targets, target, -1);
        bump(this.keys, keyId, -1);
        this.record(target, outcome, this.clock());
      },
    };
  }

  private record(target: string, outcome: 'success' | 'failure', now: number): void {
    const circuit = this.circuits.get(target);
    if (outcome === 'success') {
      this.circuits.delete(target);
      return;
    }
    const c = circuit ?? { failures: 0, openUntil: 0, cooldownMs: this.limits.cooldownMs, probing: false };
    c.failures += 1;
    if (c.probing) {
      // The probe failed: open again, for longer.
      c.probing = false;
      c.cooldownMs = Math.min(this.limits.maxCooldownMs, c.cooldownMs * 2);
      c.openUntil = now + c.cooldownMs;
    } else if (c.openUntil === 0 && c.failures >= this.limits.failuresToOpen) {
      c.openUntil = now + c.cooldownMs;
    }
    this.circuits.set(target, c);
  }

  /** ±20 %, so deferred deliveries do not come back all at once. */
  private jitter(ms: number): number {
    return Math.round(ms * (0.8 + 0.4 * this.random()));
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
