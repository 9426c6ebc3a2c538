import { RedisUnavailableError } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall, type RedisClient } from './redis.js';

/** A submit's write did not reach enough replicas in time (503 with Retry-After: not accepted). */
export class ReplicationTimeoutError extends RedisUnavailableError {
  override name = 'ReplicationTimeoutError';
  constructor(
    readonly what: string,
    readonly acked: number,
    readonly wanted: number,
    timeoutMs: number,
  ) {
    super(
      `${what} was written on the Redis primary but ${acked} of ${wanted} replica(s) confirmed it within ${timeoutMs} ms, so it is not accepted; it may still run — retry with the same Idempotency-Key to get that job rather than a new one`,
      { retryAfterS: 1 },
    );
  }
}

export interface ReplicaAckOptions {
  /**
   * Replicas that must hold a write before it counts: a number (0 = none), or 'auto': 1 while the
   * primary reports at least one connected replica (ROLE), else none.
   */
  minReplicas: number | 'auto';
  /** How long one confirmation may wait (Redis WAIT's timeout). */
  timeoutMs: number;
  /** How long a replica count read with ROLE is trusted ('auto'). Default 2000 ms. */
  refreshMs?: number;
}

/**
 * Redis replication is asynchronous: a primary that fails right after answering can take a write with
 * it. `confirm` blocks (WAIT) until the writes this connection has made so far reached the replicas, so
 * an answer given after it survives a failover to any of them. WAIT and ROLE are sent in a pipeline with
 * a key of the service's hash slot, which routes them to that slot's primary on a Cluster too.
 */
export class ReplicaAck {
  private readonly probeKey: string;
  private replicas: { at: number; count: Promise<number> } | null = null;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly options: ReplicaAckOptions,
  ) {
    this.probeKey = new Keys(prefix).seq();
    redis.on('ready', () => (this.replicas = null));
  }

  /**
   * Resolves once `wanted` replicas acknowledged this connection's writes; throws
   * `ReplicationTimeoutError` when fewer did within the timeout. `what` names the write in that error.
   */
  async confirm(what: string): Promise<{ wanted: number; acked: number }> {
    const wanted = await this.wanted();
    if (wanted === 0) return { wanted, acked: 0 };
    const [, ack] = await this.pipelined('wait', wanted, this.options.timeoutMs);
    const acked = Number(ack);
    if (acked < wanted) {
      // Perhaps the replica is gone (a failover promoted it): count again next time.
      this.replicas = null;
      throw new ReplicationTimeoutError(what, acked, wanted, this.options.timeoutMs);
    }
    return { wanted, acked };
  }

  /** The replicas a write must reach now (see `ReplicaAckOptions.minReplicas`). */
  async wanted(): Promise<number> {
    if (this.options.minReplicas !== 'auto') return this.options.minReplicas;
    const now = Date.now();
    if (!this.replicas || now - this.replicas.at > (this.options.refreshMs ?? 2000)) {
      const count = this.pipelined('role').then(([, role]) => {
        const r = role as [string, unknown, unknown[]?];
        return r[0] === 'master' ? (r[2]?.length ?? 0) : 0;
      });
      this.replicas = { at: now, count };
      count.catch(() => (this.replicas = null));
    }
    return Math.min(1, await this.replicas.count);
  }

  /** Runs one keyless command on the primary of the service's slot; the probe's and its replies. */
  private async pipelined(command: 'wait' | 'role', ...args: number[]): Promise<[unknown, unknown]> {
    const rows = await redisCall(async () => {
      const p = this.redis.pipeline().exists(this.probeKey);
      if (command === 'wait') p.wait(args[0]!, args[1]!);
      else p.role();
      return (await p.exec()) ?? [];
    });
    for (const [err] of rows) if (err) throw new RedisUnavailableError(undefined, { cause: err });
    return [rows[0]?.[1], rows[1]?.[1]];
  }
}
