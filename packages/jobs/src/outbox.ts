import type { Cluster, Redis } from 'ioredis';

import { OutboxEntry } from '@imagegen/contracts';

import { Keys } from './keys.js';
import { redisCall } from './redis.js';

const GROUP = 'dispatch';

export interface OutboxItem {
  /** The stream entry id, to acknowledge. */
  entryId: string;
  /** The decoded intent, or null for an entry that is not a valid intent (acknowledged and dropped). */
  entry: OutboxEntry | null;
}

type StreamRows = [string, string[]][];

function decode(rows: StreamRows): OutboxItem[] {
  return rows.map(([entryId, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    const parsed = OutboxEntry.safeParse(fields);
    return { entryId, entry: parsed.success ? parsed.data : null };
  });
}

/**
 * The reading side of the webhook outbox stream, as one consumer of the dispatchers' consumer group:
 * entries a crashed dispatcher read but never acknowledged are claimed back after `reclaimIdleMs`.
 */
export class OutboxReader {
  private readonly stream: string;

  constructor(
    private readonly redis: Redis | Cluster,
    /** A connection for the blocking read, used for nothing else. */
    private readonly blocking: Redis | Cluster,
    prefix: string,
    private readonly consumer: string,
    private readonly reclaimIdleMs = 30_000,
  ) {
    this.stream = new Keys(prefix).webhookOutbox();
  }

  /** Creates the consumer group from the stream's start (intents written before any dispatcher count). */
  async ensureGroup(): Promise<void> {
    const exists = await redisCall(async () => {
      const groups = (await this.redis.xinfo('GROUPS', this.stream).catch(() => [])) as unknown[][];
      return groups.some((g) => g[1] === GROUP);
    });
    if (!exists) {
      await redisCall(() => this.redis.xgroup('CREATE', this.stream, GROUP, '0', 'MKSTREAM')).catch(
        async (e: unknown) => {
          // Another dispatcher created it between our check and our create.
          const groups = (await this.redis.xinfo('GROUPS', this.stream)) as unknown[][];
          if (!groups.some((g) => g[1] === GROUP)) throw e;
        },
      );
    }
  }

  /** Entries other consumers left unacknowledged for too long. */
  async claimAbandoned(count = 100): Promise<OutboxItem[]> {
    const [, rows] = (await redisCall(() =>
      this.redis.xautoclaim(this.stream, GROUP, this.consumer, this.reclaimIdleMs, '0-0', 'COUNT', count),
    )) as [string, StreamRows];
    return decode(rows);
  }

  /** New entries, waiting up to `blockMs` for some. */
  async readNew(blockMs: number, count = 100): Promise<OutboxItem[]> {
    const read = (await redisCall(() =>
      this.blocking.xreadgroup(
        'GROUP',
        GROUP,
        this.consumer,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        this.stream,
        '>',
      ),
    )) as [string, StreamRows][] | null;
    return read?.[0] ? decode(read[0][1]) : [];
  }

  /** Acknowledges and deletes an entry once its delivery is safely queued. */
  async ack(entryId: string): Promise<void> {
    await redisCall(() =>
      this.redis.multi().xack(this.stream, GROUP, entryId).xdel(this.stream, entryId).exec(),
    );
  }
}
