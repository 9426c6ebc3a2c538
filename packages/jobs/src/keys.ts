/** Every Redis key the service owns, under one prefix (default `imagegen`). */
export class Keys {
  constructor(readonly prefix: string) {}
  job = (id: string) => `${this.prefix}:job:${id}`;
  events = (id: string) => `${this.prefix}:job:${id}:events`;
  /** Pub/sub channel carrying each job event's stream id, for live SSE and waits. */
  eventsChannel = () => `${this.prefix}:events`;
  cancelChannel = () => `${this.prefix}:cancel`;
  waiting = () => `${this.prefix}:waiting`;
  seq = () => `${this.prefix}:seq`;
  active = (keyId: string) => `${this.prefix}:key:${keyId}:active`;
  idempotency = (keyId: string, digest: string) => `${this.prefix}:idem:${keyId}:${digest}`;
  apiKey = (id: string) => `${this.prefix}:apikey:${id}`;
  apiKeys = () => `${this.prefix}:apikeys`;
  rate = (keyId: string) => `${this.prefix}:rate:${keyId}`;
  /** Stream of webhook delivery intents, written atomically with the job event they announce. */
  webhookOutbox = () => `${this.prefix}:webhooks:outbox`;
  /** BullMQ's own prefix: its keys become `<prefix>:bull:<queue>:…`. */
  bullPrefix = () => `${this.prefix}:bull`;
}
