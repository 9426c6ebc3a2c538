import { parseArgs } from 'node:util';

import { DEFAULT_REDIS_PREFIX } from '@imagegen/contracts';
import { RedisApiKeyRepository } from '@imagegen/access';
import {
  BullGenerationQueue,
  cancelUnfinishedJobs,
  connectRedis,
  RedisJobRepository,
  waitReady,
} from '@imagegen/jobs';

import { loadCliConfig } from '../config.js';
import { dataDirHint, findStack } from '../stack-file.js';
import { SetupError, UsageError } from '../usage.js';

/** REDIS_URL (and REDIS_PREFIX), else the running stack's Redis; never a guessed default. */
function redisTarget(): { url: string; prefix: string } {
  const config = loadCliConfig();
  if (config.REDIS_URL) return { url: config.REDIS_URL, prefix: config.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX };
  const lookup = findStack(config.IMAGEGEN_DATA_DIR);
  if (!lookup.found) {
    throw new SetupError(
      `no Redis to manage keys in: ${lookup.why}. Start it with \`npm start\`, or set REDIS_URL (and REDIS_PREFIX)${dataDirHint(config.dataDirFromEnv)}`,
    );
  }
  return {
    url: lookup.stack.redisUrl,
    prefix: config.REDIS_PREFIX ?? (lookup.stack.prefix || DEFAULT_REDIS_PREFIX),
  };
}

const SUBCOMMANDS = ['create', 'list', 'revoke', 'rotate-webhook-secret'];

export async function keys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || !SUBCOMMANDS.includes(sub)) {
    throw new UsageError(sub === undefined ? 'keys needs a command' : `unknown keys command "${sub}"`);
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, 'grace-hours': { type: 'string' } },
  });
  const target = redisTarget();
  const redis = connectRedis(target.url, 'request');
  redis.on('error', () => undefined);
  const store = new RedisApiKeyRepository(redis, target.prefix);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    await waitReady(redis, 5000).catch(() => {
      throw new SetupError(
        `cannot reach Redis at ${target.url.replace(/\/\/[^@]*@/, '//')}: start the stack (npm start) or set REDIS_URL`,
      );
    });
    switch (sub) {
      case 'create': {
        const name = values.name?.trim();
        if (!name) throw new UsageError('keys create needs --name NAME');
        const { id, secret, webhookSecret } = await store.create(name);
        out(`id              ${id}`);
        out(`name            ${name}`);
        out(`secret          ${secret}`);
        out(`webhook secret  ${webhookSecret}`);
        out('The secrets are shown only now; store them safely.');
        return;
      }
      case 'list': {
        const list = await store.list();
        out(['id', 'name', 'created', 'revoked'].join('\t'));
        for (const k of list) {
          out(
            [
              k.id,
              k.name,
              new Date(k.createdAt).toISOString(),
              k.revokedAt ? new Date(k.revokedAt).toISOString() : '-',
            ].join('\t'),
          );
        }
        return;
      }
      case 'revoke': {
        const id = positionals[0];
        if (!id) throw new UsageError('keys revoke needs the key id');
        if (!(await store.revoke(id))) throw new UsageError(`no key with id ${id}`);
        // Its unfinished jobs end too (issue 17, finding 11); the running API processes end its open
        // streams and waits when they hear of the revocation.
        const queue = new BullGenerationQueue(redis, target.prefix);
        try {
          const canceled = await cancelUnfinishedJobs(
            { jobs: new RedisJobRepository(redis, { prefix: target.prefix }), queue },
            id,
          );
          out(`revoked ${id}; canceled ${canceled.queued} queued and ${canceled.running} running jobs`);
        } finally {
          await queue.close();
        }
        return;
      }
      case 'rotate-webhook-secret': {
        const id = positionals[0];
        if (!id) throw new UsageError('keys rotate-webhook-secret needs the key id');
        const hours = Number(values['grace-hours'] ?? '24');
        if (!Number.isFinite(hours) || hours < 0 || hours > 720) {
          throw new UsageError('--grace-hours must be a number of hours between 0 and 720');
        }
        const r = await store.rotateWebhookSecret(id, Math.round(hours * 3600));
        if (!r) throw new UsageError(`no key with id ${id}`);
        out(`webhook secret  ${r.webhookSecret}`);
        out(
          r.previousValidUntil
            ? `the previous secret also signs until ${new Date(r.previousValidUntil).toISOString()}`
            : 'the previous secret no longer signs',
        );
        return;
      }
      default:
        throw new UsageError(`unknown keys command "${sub}"`);
    }
  } finally {
    redis.disconnect();
  }
}
