/**
 * Lua scripts for the job record's state changes. Each runs atomically in Redis, so a job reaches exactly
 * one terminal status however many workers, retries or cancel requests race for it.
 */

/**
 * Appends a webhook delivery intent to the outbox stream when the job subscribed to this event type
 * (field wh_events, e.g. ",queued,completed,"). Written in the same script as the state change, so
 * an event is never lost between the change and its delivery (a transactional outbox).
 */
const OUTBOX = `
local function outbox(jobkey, outkey, id, kind, evid)
  local subscribed = redis.call('HGET', jobkey, 'wh_events')
  if subscribed and string.find(subscribed, ',' .. kind .. ',', 1, true) then
    redis.call('XADD', outkey, '*', 'job', id, 'type', kind, 'event', evid)
  end
end
`;

/**
 * Submit. KEYS: job, events, waiting, seq, active, idempotency, outbox. ARGV: id, fields JSON, concurrency limit,
 * idempotency value ('' when none), idempotency TTL s, queue bound (0 = none).
 * Returns {'created', seq} | {'idempotent', value} | {'queue_full'} | {'concurrency', n}.
 */
export const SUBMIT = `${OUTBOX}
if ARGV[4] ~= '' then
  local existing = redis.call('GET', KEYS[6])
  if existing then return {'idempotent', existing} end
end
local bound = tonumber(ARGV[6])
if bound > 0 and redis.call('ZCARD', KEYS[3]) >= bound then return {'queue_full'} end
local active = redis.call('SCARD', KEYS[5])
if active >= tonumber(ARGV[3]) then return {'concurrency', active} end
local seq = redis.call('INCR', KEYS[4])
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('HSET', KEYS[1], 'seq', seq, 'status', 'queued')
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
local ev = redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2000, '*', 'type', 'queued')
if ARGV[4] ~= '' then redis.call('SET', KEYS[6], ARGV[4], 'EX', ARGV[5]) end
outbox(KEYS[1], KEYS[7], ARGV[1], 'queued', ev)
return {'created', seq, ev}
`;

/** Undo a submit whose queue add failed. KEYS: job, events, waiting, active, idempotency(or dummy). */
export const UNSUBMIT = `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
`;

/**
 * A worker takes the job. KEYS: job, events, waiting, outbox. ARGV: id, attempt, now ms, worker name.
 * Returns 'started' | 'missing' | a terminal status ('canceled', …) when there is nothing to do.
 */
export const START = `${OUTBOX}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'queued' and status ~= 'processing' then return status end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 'cancel' end
if not redis.call('HGET', KEYS[1], 'started_at') then redis.call('HSET', KEYS[1], 'started_at', ARGV[3]) end
redis.call('HSET', KEYS[1], 'status', 'processing', 'attempt', ARGV[2], 'progress', 0, 'stage', 'analyzing', 'worker', ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
local ev = redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2000, '*', 'type', 'started', 'attempt', ARGV[2])
outbox(KEYS[1], KEYS[4], ARGV[1], 'started', ev)
return {'started', ev}
`;

/**
 * Stage/progress while processing. KEYS: job, events, outbox. ARGV: stage, step, total, progress, id, now ms.
 * Progress webhooks are throttled to one a second per job (and always the last step).
 */
export const PROGRESS = `${OUTBOX}
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
redis.call('HSET', KEYS[1], 'stage', ARGV[1], 'progress', ARGV[4])
local ev = redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2000, '*', 'type', 'progress', 'stage', ARGV[1], 'step', ARGV[2], 'total', ARGV[3], 'progress', ARGV[4])
local last = tonumber(redis.call('HGET', KEYS[1], 'wh_progress_at') or '0')
local now = tonumber(ARGV[6])
if now - last >= 1000 or (ARGV[2] ~= '' and ARGV[2] == ARGV[3]) then
  local subscribed = redis.call('HGET', KEYS[1], 'wh_events')
  if subscribed and string.find(subscribed, ',progress,', 1, true) then
    redis.call('HSET', KEYS[1], 'wh_progress_at', now)
    outbox(KEYS[1], KEYS[3], ARGV[5], 'progress', ev)
  end
end
return ev
`;

/**
 * Terminal transition, at most once. KEYS: job, events, waiting, active, outbox. ARGV: id, status, fields JSON,
 * retention s, now ms, required current status ('' = any non-terminal).
 * Returns {'done', eventId} | {'already', status} | {'missing'}.
 */
export const FINISH = `${OUTBOX}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status ~= 'queued' and status ~= 'processing' then return {'already', status} end
if ARGV[6] ~= '' and status ~= ARGV[6] then return {'already', status} end
local fields = cjson.decode(ARGV[3])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'completed_at', ARGV[5])
redis.call('HDEL', KEYS[1], 'stage')
if ARGV[2] == 'succeeded' then redis.call('HSET', KEYS[1], 'progress', 1) end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
local ev = redis.call('XADD', KEYS[2], 'MAXLEN', '~', 2000, '*', 'type', 'completed', 'status', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
outbox(KEYS[1], KEYS[5], ARGV[1], 'completed', ev)
return {'done', ev}
`;

/** Marks a processing job for cancellation. KEYS: job. Returns the status seen. */
export const REQUEST_CANCEL = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'processing' then redis.call('HSET', KEYS[1], 'cancel_requested', '1') end
return status
`;

/**
 * Token bucket. KEYS: bucket. ARGV: capacity, refill per ms, now ms, ttl ms.
 * Returns {allowed 0/1, tokens left (floor), ms until one token}.
 */
export const TOKEN_BUCKET = `
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or cap
local at = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / rate) end
return {allowed, math.floor(tokens), wait}
`;

/**
 * Records a webhook delivery attempt on the job, if the job still exists (never recreates a purged
 * record). KEYS: job. ARGV: terminal event '1'/'0', status, attempt time ms, last error ('' = none),
 * delivered time ms ('' = not delivered).
 * The terminal event's outcome is what the job shows; earlier events only fill in until it exists.
 */
export const WEBHOOK_ATTEMPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'wh_attempts', 1)
if ARGV[1] == '1' or redis.call('HGET', KEYS[1], 'wh_final') ~= '1' then
  redis.call('HSET', KEYS[1], 'wh_status', ARGV[2], 'wh_last_attempt_at', ARGV[3], 'wh_last_error', ARGV[4])
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'wh_delivered_at', ARGV[5]) end
  if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'wh_final', '1') end
end
return 1
`;
