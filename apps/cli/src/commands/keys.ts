import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL } from '@imagegen/contracts';
import { RedisApiKeyRepository } from '@imagegen/access';
import { connectRedis, waitReady } from '@imagegen/jobs';

import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export const KEYS_USAGE = `imagegen keys create --name NAME   create a key; its secret and webhook secret are printed once
imagegen keys list                 list keys (id, name, created, revoked)
imagegen keys revoke ID            revoke a key at once
imagegen keys rotate-webhook-secret ID [--grace-hours H]
                                   new webhook signing secret; the old one also signs for H hours (default 24)

  Redis: REDIS_URL and REDIS_PREFIX, or the running \`npm start\` stack (.imagegen/stack.json).`;

function redisTarget(): { url: string; prefix: string } {
  const config = loadCliConfig();
  if (config.REDIS_URL) return { url: config.REDIS_URL, prefix: config.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX };
  const stackFile = join(config.IMAGEGEN_DATA_DIR, 'stack.json');
  if (existsSync(stackFile)) {
    const s = JSON.parse(readFileSync(stackFile, 'utf8')) as { redisUrl: string; prefix: string };
    return { url: s.redisUrl, prefix: config.REDIS_PREFIX ?? s.prefix };
  }
  return { url: DEFAULT_REDIS_URL, prefix: config.REDIS_PREFIX ?? DEFAULT_REDIS_PREFIX };
}

export async function keys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
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
      throw new UsageError(
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
        out(`revoked ${id}`);
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
      case undefined:
      default:
        throw new UsageError(`unknown keys command "${sub ?? ''}"`);
    }
  } finally {
    redis.disconnect();
  }
}
