import { readFileSync } from 'node:fs';

import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';

import { keySlot } from './keys.js';
import { redisCall } from './redis.js';

/**
 * The service's Lua commands, one file each in packages/jobs/lua (BullMQ's layout: the number of keys is
 * in the file name), with named KEYS and ARGV and a schema for the reply. `Commands` loads them into a
 * connection and runs them by name: keys and arguments are passed as objects, so no call site depends on
 * positions, and every reply is decoded (a reply of an unexpected shape is an error, not a cast).
 */
interface CommandSpec {
  file: string;
  keys: readonly string[];
  args: readonly string[];
  reply: z.ZodType;
}

const spec = <const K extends readonly string[], const A extends readonly string[], R extends z.ZodType>(
  file: string,
  keys: K,
  args: A,
  reply: R,
) => ({ file, keys, args, reply });

const str = z.string();
const int = z.coerce.number().int();

export const COMMANDS = {
  submit: spec(
    'submit-16',
    [
      'job',
      'events',
      'waiting',
      'seq',
      'unfinished',
      'idempotency',
      'outbox',
      'intents',
      'keyJobs',
      'apiKey',
      'fair',
      'held',
      'writeBucket',
      'authBucket',
      'resultCache',
      'deadlines',
    ],
    [
      'id',
      'fields',
      'concurrency',
      'idempotencyValue',
      'idempotencyTtlS',
      'queueBound',
      'channel',
      'keyJobsMax',
      'keyId',
      'secretHash',
      'writeCapacity',
      'authCapacity',
      'priorityLimit',
      'queueDeadlineMs',
      'clearIntents',
      'cacheMode',
      'cacheTtlS',
      'objectTtlMs',
      'minLifeMs',
    ],
    z.union([
      z.tuple([z.literal('created'), int, int, int, int, z.array(str), int]),
      z.tuple([z.literal('held'), int, int, int, z.array(str)]),
      z.tuple([z.literal('cached'), int, int, int, int, z.array(str), int, z.array(str)]),
      z.tuple([z.literal('attached'), int, int, int, z.array(str), str]),
      z.tuple([z.literal('idempotent'), int, int, str]),
      z.tuple([z.literal('queue_full'), int, int]),
      z.tuple([z.literal('concurrency'), int, int, int]),
      z.tuple([z.literal('unauthorized'), int, int]),
      z.tuple([z.literal('auth_budget'), int, int]),
      z.tuple([z.literal('rate_limited'), int, int]),
    ]),
  ),
  start: spec(
    'start-7',
    ['job', 'events', 'waiting', 'outbox', 'intents', 'running', 'deadlines'],
    ['id', 'attempt', 'now', 'worker', 'channel'],
    z.union([
      z.tuple([z.literal('started'), str]),
      z.tuple([z.literal('missing')]),
      z.tuple([z.literal('cancel')]),
      z.tuple([z.literal('settled'), str]),
    ]),
  ),
  progress: spec(
    'progress-3',
    ['job', 'events', 'outbox'],
    ['id', 'stage', 'step', 'total', 'progress', 'now', 'channel'],
    str,
  ),
  finish: spec(
    'finish-12',
    [
      'job',
      'events',
      'waiting',
      'unfinished',
      'outbox',
      'intents',
      'running',
      'held',
      'fair',
      'apiKey',
      'attached',
      'deadlines',
    ],
    [
      'id',
      'status',
      'fields',
      'retentionS',
      'now',
      'onlyFrom',
      'channel',
      'jobKeyPrefix',
      'keyId',
      'priorityLimit',
    ],
    z.union([
      z.tuple([z.literal('done'), str, str, int, str, z.array(str)]),
      z.tuple([z.literal('settled'), str]),
      z.tuple([z.literal('missing')]),
    ]),
  ),
  requestCancel: spec('request-cancel-1', ['job'], ['id', 'channel'], str),
  setFields: spec('set-fields-1', ['job'], ['fields', 'counters'], int),
  webhookAttempt: spec(
    'webhook-attempt-1',
    ['job'],
    ['terminal', 'status', 'at', 'lastError', 'deliveredAt'],
    int,
  ),
  setKeyFields: spec('set-key-fields-1', ['apiKey'], ['fields'], int),
  createApiKey: spec('create-api-key-2', ['apiKey', 'apiKeys'], ['id', 'fields'], int),
  takeToken: spec(
    'take-token-1',
    ['bucket'],
    ['capacity', 'perMs', 'ttlMs', 'cost'],
    z.tuple([int, int, int]),
  ),
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;
type Spec<N extends CommandName> = (typeof COMMANDS)[N];
export type CommandKeys<N extends CommandName> = Record<Spec<N>['keys'][number], string>;
export type CommandArgs<N extends CommandName> = Record<Spec<N>['args'][number], string | number>;
export type CommandReply<N extends CommandName> = z.output<Spec<N>['reply']>;

const LUA_DIR = new URL('../lua/', import.meta.url);
const INCLUDE = /^--@include (\S+)$/gm;

/** A command's Lua source with its `--@include name` lines replaced by lua/includes/name.lua. */
export function luaSource(file: string): string {
  const text = readFileSync(new URL(`${file}.lua`, LUA_DIR), 'utf8');
  return text.replace(INCLUDE, (_line, name: string) =>
    readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8'),
  );
}

/** Observes each command call (tests: which commands ran, with which keys). */
export type CommandObserver = (name: CommandName, keys: readonly string[]) => void;

type Scripted = Record<string, (...args: (string | number)[]) => Promise<unknown>>;

/** The commands, loaded into one connection (EVALSHA, falling back to EVAL after a script flush). */
export class Commands {
  private readonly scripted: Scripted;

  constructor(
    redis: Redis | Cluster,
    private readonly observe?: CommandObserver,
  ) {
    for (const [name, s] of Object.entries(COMMANDS) as [CommandName, CommandSpec][]) {
      const declared = Number(/-(\d+)$/.exec(s.file)?.[1]);
      if (declared !== s.keys.length) {
        throw new Error(`lua/${s.file}.lua takes ${declared} keys but its spec names ${s.keys.length}`);
      }
      const method = `ig_${name}`;
      if (!(method in redis)) redis.defineCommand(method, { numberOfKeys: declared, lua: luaSource(s.file) });
    }
    this.scripted = redis as unknown as Scripted;
  }

  /** Runs a command; its keys must share one hash slot (they do when built by `Keys`). */
  async run<N extends CommandName>(
    name: N,
    keys: CommandKeys<N>,
    args: CommandArgs<N>,
  ): Promise<CommandReply<N>> {
    const s: CommandSpec = COMMANDS[name];
    const keyList = s.keys.map((k) => (keys as Record<string, string>)[k]!);
    const slot = keySlot(keyList[0]!);
    for (const k of keyList) {
      if (keySlot(k) !== slot)
        throw new Error(`command ${name}: key ${k} is outside the hash slot of the others`);
    }
    this.observe?.(name, keyList);
    const argList = s.args.map((a) => (args as Record<string, string | number>)[a]!);
    const reply = await redisCall(() => this.scripted[`ig_${name}`]!(...keyList, ...argList));
    return s.reply.parse(reply) as CommandReply<N>;
  }
}
