-- Creates a queued job with its checks, atomically, in one round trip: the key's authentication and write
-- rate limit (when the caller passes the presented secret's digest: the lean submit), idempotency replay,
-- the global queue bound, the key's concurrency limit (refused, or held when the key's policy is `queue`);
-- writes the record, its `queued` event, the key's slot, the idempotency record, the webhook intent, the
-- enqueue intent and the key's job index entry together, so a process that dies after this script leaves a
-- job that will run (the dispatcher enqueues intents left behind), never a record that only holds a slot.
-- The job's place in the waiting set and its BullMQ priority follow the fair order (includes/fair.lua).
-- Result reuse (cacheMode 'lookup'; api.md "Caching"): the key's index entry for the request's digest names
-- the job that last ran it. Still succeeded with at least minLifeMs of its image's life left: the new job is
-- created waiting as usual (so it runs if its caller dies) and the reply carries the source record for the
-- caller to copy its image and finish the job at once, past the concurrency and queue limits. Still queued
-- or processing: the new job attaches to it (a slot, no place in the queue, no enqueue intent) and the
-- source's finish releases it. Otherwise (and with cacheMode 'refresh') the new job becomes the entry.
-- Every reply starts with the kind, then the write bucket's tokens left and ms until the next (-1 when not
-- checked here):
--   {'created', left, resetMs, seq, priority, record, queue position} | {'held', left, resetMs, seq, record}
--   | {'cached', left, resetMs, seq, priority, record, queue position, source record}
--   | {'attached', left, resetMs, seq, record, source id}
--   | {'idempotent', left, resetMs, value} | {'queue_full', left, resetMs} | {'concurrency', left, resetMs, n}
--   | {'unauthorized', -1, -1} | {'auth_budget', -1, waitMs} | {'rate_limited', 0, waitMs}
-- (record: the job hash as a flat field/value list, so the caller needs no read afterwards).
--@include outbox
--@include fields
--@include bucket
--@include fair
local jobKey, eventsKey, waitingKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unfinishedKey, idemKey, outboxKey, intentsKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local keyJobsKey, apiKeyKey, fairKey, heldKey = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local writeBucketKey, authBucketKey, cacheKey, deadlinesKey = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local id, fieldsJson, concurrency, idemValue = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local idemTtlS, queueBound, channel = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local keyJobsMax, keyId, secretHash = tonumber(ARGV[8]), ARGV[9], ARGV[10]
local writeCapacity, authCapacity = tonumber(ARGV[11]), tonumber(ARGV[12])
local priorityLimit, queueDeadlineMs, clearIntents = tonumber(ARGV[13]), ARGV[14], ARGV[15]
local cacheMode, cacheTtlS, objectTtlMs, minLifeMs = ARGV[16], ARGV[17], tonumber(ARGV[18]), tonumber(ARGV[19])
local jobPrefix = string.sub(jobKey, 1, #jobKey - #id)
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Enqueue intents of jobs this API has since handed to BullMQ ride along (space-separated ids): dropping
-- them here saves the submit a round trip of its own.
for done in string.gmatch(clearIntents, '%S+') do redis.call('ZREM', intentsKey, done) end

local left, resetMs = -1, -1
if secretHash ~= '' then
  -- Failed authentications are budgeted per client address: once spent, refuse before checking the key.
  local allowed, _, wait = takeToken(authBucketKey, authCapacity, authCapacity / 60000, 120000, 0)
  if allowed == 0 then return {'auth_budget', -1, wait} end
  local key = redis.call('HMGET', apiKeyKey, 'hash', 'revoked_at')
  -- Digests of secrets are compared: an early mismatch tells nothing about the secret itself.
  if not key[1] or key[2] or key[1] ~= secretHash then
    takeToken(authBucketKey, authCapacity, authCapacity / 60000, 120000, 1)
    return {'unauthorized', -1, -1}
  end
  local ok
  ok, left, resetMs = takeToken(writeBucketKey, writeCapacity, writeCapacity / 60000, 120000, 1)
  if ok == 0 then return {'rate_limited', 0, resetMs} end
end

if idemValue ~= '' then
  local existing = redis.call('GET', idemKey)
  if existing then return {'idempotent', left, resetMs, existing} end
end
-- 'hit' or 'attach', with the source job's id.
local reuse, source = nil, nil
if cacheMode == 'lookup' then
  source = redis.call('GET', cacheKey)
  if source then
    local h = redis.call('HMGET', jobPrefix .. source, 'status', 'completed_at', 'key_id')
    if h[3] ~= keyId then
      source = nil
    elseif h[1] == 'succeeded' and (tonumber(h[2]) or 0) + objectTtlMs - nowMs >= minLifeMs then
      reuse = 'hit'
    elseif h[1] == 'queued' or h[1] == 'processing' then
      reuse = 'attach'
    else
      source = nil
    end
  end
end
local settings = redis.call('HMGET', apiKeyKey, 'weight', 'concurrency_policy')
local unfinished = redis.call('SCARD', unfinishedKey)
-- A hit ends at once: it takes a slot only for the moment of its copy.
local hold = reuse ~= 'hit' and unfinished >= concurrency
if hold and settings[2] ~= 'queue' then return {'concurrency', left, resetMs, unfinished} end
if hold then reuse, source = nil, nil end
if queueBound > 0 and not reuse then
  local depth = redis.call('ZCARD', waitingKey)
  if hold then depth = depth + redis.call('ZCARD', heldKey) end
  if depth >= queueBound then return {'queue_full', left, resetMs} end
end

local seq = redis.call('INCR', seqKey)
local fields = cjson.decode(fieldsJson)
setFields(jobKey, fields)
redis.call('HSET', jobKey, 'seq', seq, 'status', 'queued')
local priority = 0
if hold then
  -- Held beyond the key's concurrency limit (policy `queue`): no slot, no enqueue intent; the finish that
  -- frees a slot releases the oldest held job. Its queue deadline counts from its release.
  redis.call('HSET', jobKey, 'held_limit', concurrency, 'held_deadline_ms', queueDeadlineMs)
  redis.call('ZADD', heldKey, seq, id)
elseif reuse == 'attach' then
  -- Waits for the source: its finish puts this job in the queue (with a fresh queue deadline) and, when it
  -- succeeded, its worker copies the image here. Nothing to enqueue until then.
  redis.call('HSET', jobKey, 'attached_to', source, 'held_deadline_ms', queueDeadlineMs)
  redis.call('SADD', unfinishedKey, id)
  redis.call('RPUSH', jobPrefix .. source .. ':attached', id)
else
  priority = enterWaiting(waitingKey, id, fairRound(fairKey, waitingKey, keyId, settings[1]), seq, priorityLimit)
  redis.call('HSET', jobKey, 'priority', priority)
  redis.call('SADD', unfinishedKey, id)
  -- Waiting jobs by queue deadline: expiry takes the most overdue first, whatever their fair order.
  redis.call('ZADD', deadlinesKey, tonumber(fields['deadline_at']), id)
  -- The intent is timed by Redis's clock, as the dispatcher reads it: API and dispatcher hosts may disagree.
  redis.call('ZADD', intentsKey, nowMs, id)
end
if cacheMode ~= '' and not reuse then redis.call('SET', cacheKey, id, 'EX', cacheTtlS) end
-- The key's job index (newest first by seq), for listing without a scan. It is also what the key retains:
-- past keyJobsMax entries its oldest finished jobs are purged at once, record and events (at most 100 per
-- submit; unfinished ones stay), so one key cannot fill Redis with records (issue 17, finding 5).
redis.call('ZADD', keyJobsKey, seq, id)
local over = redis.call('ZCARD', keyJobsKey) - keyJobsMax
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', keyJobsKey, 0, math.min(over, 100) - 1)) do
    local st = redis.call('HGET', jobPrefix .. old, 'status')
    if st ~= 'queued' and st ~= 'processing' then
      redis.call('DEL', jobPrefix .. old, jobPrefix .. old .. ':events')
      redis.call('ZREM', keyJobsKey, old)
    end
  end
end
if idemValue ~= '' then redis.call('SET', idemKey, idemValue, 'EX', idemTtlS) end
local eventId = appendEvent(eventsKey, channel, id, 'type', 'queued')
outbox(jobKey, outboxKey, id, 'queued', eventId)
if hold then return {'held', left, resetMs, seq, redis.call('HGETALL', jobKey)} end
if reuse == 'attach' then return {'attached', left, resetMs, seq, redis.call('HGETALL', jobKey), source} end
if reuse == 'hit' then
  return {'cached', left, resetMs, seq, priority, redis.call('HGETALL', jobKey), redis.call('ZRANK', waitingKey, id),
    redis.call('HGETALL', jobPrefix .. source)}
end
return {'created', left, resetMs, seq, priority, redis.call('HGETALL', jobKey), redis.call('ZRANK', waitingKey, id)}
