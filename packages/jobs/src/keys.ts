import clusterKeySlot from 'cluster-key-slot';

/** A hash tag `{…}` in a prefix: Redis Cluster hashes only what is inside it. */
const TAG = /\{([^{}]+)\}/;

/**
 * The service's key prefix with exactly one hash tag: `imagegen` → `{imagegen}`; a prefix that already
 * has one (`{imagegen}`, `app:{imagegen}`) is used as given. Every key and BullMQ queue of the service
 * then hashes to one slot, so each Lua command is single-slot and works on Redis Cluster.
 */
export function taggedPrefix(prefix: string): string {
  return TAG.test(prefix) ? prefix : `{${prefix}}`;
}

/** The Redis Cluster hash slot of a key (CRC16 of its hash tag, or of the whole key without one). */
export function keySlot(key: string): number {
  return clusterKeySlot(key);
}

/** Every Redis key the service owns, under one hash-tagged prefix (default `{imagegen}`). */
export class Keys {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = taggedPrefix(prefix);
  }
  job = (id: string) => `${this.prefix}:job:${id}`;
  events = (id: string) => `${this.prefix}:job:${id}:events`;
  /** Pub/sub channel of one job's live previews (PreviewMessage JSON); nothing stores them. */
  previews = (id: string) => `${this.prefix}:job:${id}:previews`;
  /** Short-lived key that exists while some event stream wants the job's previews (the worker checks it). */
  previewWatch = (id: string) => `${this.prefix}:job:${id}:previews:watch`;
  /** Pub/sub channel carrying the id of each job a stream has just started to watch (workers listen). */
  previewWatchChannel = () => `${this.prefix}:previews:watch`;
  /** Pub/sub channel carrying `<job id> <event id>` for each job event, for live SSE and waits. */
  eventsChannel = () => `${this.prefix}:events`;
  /** Pub/sub: the id of each API key as it is revoked (API processes end its streams and waits). */
  keyRevocations = () => `${this.prefix}:keys:revoked`;
  /** Pub/sub channel carrying the id of each running job whose client asked to cancel it. */
  cancelChannel = () => `${this.prefix}:cancel`;
  /** Sorted set of queued job ids by submit order (queue positions). */
  waiting = () => `${this.prefix}:waiting`;
  /** Sorted set of waiting job ids by queue deadline (epoch ms), so expiry finds the most overdue first. */
  deadlines = () => `${this.prefix}:deadlines`;
  /** Sorted set of processing job ids by start time (Redis's clock), to find ones no worker settles. */
  running = () => `${this.prefix}:running`;
  seq = () => `${this.prefix}:seq`;
  /** Set of one API key's unfinished jobs (its concurrency slots). */
  unfinished = (keyId: string) => `${this.prefix}:key:${keyId}:active`;
  /** Sorted set of one API key's job ids by submit order (seq), for listing. */
  keyJobs = (keyId: string) => `${this.prefix}:key:${keyId}:jobs`;
  /** Sorted set of one API key's jobs held beyond its concurrency limit (policy `queue`), by seq. */
  held = (keyId: string) => `${this.prefix}:key:${keyId}:held`;
  /** Hash of the fair order's finish tags, one field per API key (`k:<key id>`); see lua/includes/fair.lua. */
  fair = () => `${this.prefix}:fair`;
  /**
   * Result reuse: the job that last ran one key's request of this digest (model and every generation
   * parameter, seed included); see lua/submit-16.lua.
   */
  resultCache = (keyId: string, digest: string) => `${this.prefix}:cache:${keyId}:${digest}`;
  /** List of the jobs attached to a running one (identical requests), released by its finish. */
  attached = (id: string) => `${this.prefix}:job:${id}:attached`;
  idempotency = (keyId: string, digest: string) => `${this.prefix}:idem:${keyId}:${digest}`;
  /** The job ids one compatible-API request started (key + body digest), so the client's retries find them. */
  requestAnchor = (keyId: string, digest: string) => `${this.prefix}:anchor:${keyId}:${digest}`;
  /** A key that never holds data, passed where a command takes an optional key. */
  none = () => `${this.prefix}:none`;
  apiKey = (id: string) => `${this.prefix}:apikey:${id}`;
  apiKeys = () => `${this.prefix}:apikeys`;
  rate = (bucket: string) => `${this.prefix}:rate:${bucket}`;
  /** Stream of webhook delivery intents, written atomically with the job event they announce. */
  webhookOutbox = () => `${this.prefix}:webhooks:outbox`;
  /**
   * Sorted set of enqueue intents (job id by submit time), written by the submit command with the
   * record: the API moves each into BullMQ right away and removes it; the dispatcher moves any that a
   * process that died left behind.
   */
  enqueueIntents = () => `${this.prefix}:enqueue`;
  /** Hash of the models the workers run (model name → ModelInfo JSON). */
  models = () => `${this.prefix}:models`;
  /** BullMQ's own prefix: its keys become `<prefix>:bull:<queue>:…`, inside the same hash tag. */
  bullPrefix = () => `${this.prefix}:bull`;
}
