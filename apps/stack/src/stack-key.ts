/**
 * The API key `npm start` makes sure of, and the banner that says how to use it. Secrets are printed
 * only by the start that creates them (issue 17: the banner printed the key and its webhook secret on
 * every start, into every log that captured the terminal); later starts say where the key is.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import type { ApiKeyRepository } from '@imagegen/access';

export type StackKey =
  | { revokedAt: number }
  | {
      revokedAt: null;
      id: string;
      /** The API key's secret, when this start created it (shown once); else null. */
      newSecret: string | null;
      /** The key's webhook signing secret, when this start created it (shown once); else null. */
      newWebhookSecret: string | null;
      /** How a shell gets the key: the key file or the bootstrap variable. */
      keyRef: string;
    };

export interface StackKeyOptions {
  /** IMAGEGEN_BOOTSTRAP_API_KEY: created once, never resurrected after a revocation. */
  bootstrapKey?: string | undefined;
  /** IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET: the key's signing secret, which the operator already has. */
  webhookSecret?: string | undefined;
  /** Where the local key is kept (mode 0600) when there is no bootstrap key. */
  keyFile: string;
  now?: number;
}

/** The bootstrap key, or the local key in `keyFile` (a new one when it is missing or revoked). */
export async function ensureStackKey(keys: ApiKeyRepository, options: StackKeyOptions): Promise<StackKey> {
  const { bootstrapKey, webhookSecret, keyFile, now = Date.now() } = options;
  if (bootstrapKey) {
    const r = await keys.ensure(bootstrapKey, 'bootstrap', now, webhookSecret);
    if (r.revokedAt !== null) return { revokedAt: r.revokedAt };
    const fresh = r.created && !webhookSecret ? ((await keys.webhookSecrets(r.id))[0] ?? null) : null;
    return {
      revokedAt: null,
      id: r.id,
      newSecret: null,
      newWebhookSecret: fresh,
      keyRef: '$IMAGEGEN_BOOTSTRAP_API_KEY',
    };
  }
  const keyRef = `$(cat ${keyFile})`;
  const kept = existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '';
  const keptId = kept ? await keys.verify(kept) : null;
  if (keptId) {
    if (webhookSecret) await keys.ensure(kept, 'local', now, webhookSecret);
    return { revokedAt: null, id: keptId, newSecret: null, newWebhookSecret: null, keyRef };
  }
  const created = await keys.create('local', now);
  writeFileSync(keyFile, `${created.secret}\n`, { mode: 0o600 });
  if (webhookSecret) await keys.ensure(created.secret, 'local', now, webhookSecret);
  return {
    revokedAt: null,
    id: created.id,
    newSecret: created.secret,
    newWebhookSecret: webhookSecret ? null : created.webhookSecret,
    keyRef,
  };
}

/** The lines `npm start` prints once everything is up. */
export function banner(
  key: Exclude<StackKey, { revokedAt: number }>,
  options: {
    base: string;
    keyFile: string;
    bootstrap: boolean;
    webhookSecretSet: boolean;
    allowlist: string;
  },
): string {
  const { base } = options;
  const keyLine = key.newSecret
    ? `API key (shown this once; kept in ${options.keyFile}, mode 0600): ${key.newSecret}`
    : options.bootstrap
      ? `API key: IMAGEGEN_BOOTSTRAP_API_KEY (id ${key.id})`
      : `API key: in ${options.keyFile} (id ${key.id})`;
  const webhookLine = options.webhookSecretSet
    ? 'Webhooks are signed with IMAGEGEN_BOOTSTRAP_WEBHOOK_SECRET.'
    : key.newWebhookSecret
      ? `Webhook signing secret of this key (shown this once): ${key.newWebhookSecret}`
      : `Webhooks are signed with the secret shown when this key was created; ` +
        `\`npx imagegen keys rotate-webhook-secret ${key.id}\` makes a new one.`;
  // The playground link carries the key in its fragment, which browsers never send to a server: the page
  // moves it into the tab's sessionStorage. Printed with the key only when the key itself is shown.
  const playground = key.newSecret
    ? [`Playground (open this link; it carries the key): ${base}/#key=${key.newSecret}`]
    : [
        `Playground: ${base}/  (paste the API key there, or open the link this prints:`,
        `  echo "${base}/#key=${key.keyRef}")`,
      ];
  return [
    '',
    `imagegen is running at ${base}  (Ctrl-C stops everything)`,
    keyLine,
    '',
    ...playground,
    '',
    'Try it:',
    `  KEY=${key.keyRef}`,
    `  curl -s ${base}/v1/images/generations -H "Authorization: Bearer $KEY" \\`,
    `    -H "Content-Type: application/json" -H "Prefer: wait=60" \\`,
    `    -d '{"prompt": "A red circle", "aspect_ratio": "1:1", "seed": 42}'`,
    '',
    webhookLine,
    options.allowlist
      ? `Webhook allow-list (plain http and private addresses allowed): ${options.allowlist}`
      : 'Webhooks go to public https URLs only; IMAGEGEN_WEBHOOK_ALLOWLIST=127.0.0.1 allows a local receiver.',
    '',
  ].join('\n');
}
