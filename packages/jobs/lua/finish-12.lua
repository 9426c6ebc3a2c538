-- Terminal transition, at most once: whoever races for it (workers, retries, cancel, expiry), the job
-- reaches exactly one terminal status. `onlyFrom` ('' = any non-terminal) restricts the current status.
-- The slot the job held goes to the key's oldest held job (concurrency_policy `queue`) when the key is then
-- under that job's limit: it enters the waiting set at its fair place with an enqueue intent (the caller
-- enqueues it at once; the dispatcher does if the caller dies).
-- Jobs attached to this one (identical requests submitted while it ran; result reuse) enter the waiting set
-- with an enqueue intent and a fresh queue deadline: when this job succeeded the caller completes each from a
-- copy of its image (their place is the queue's head, and no fair-order tag is charged: they only run if that
-- copy fails), otherwise they run on their own at their fair place.
-- Returns {'done', eventId, released id or '', its priority, its object key, {attached id, priority, object
-- key, …}} | {'settled', status} | {'missing'}.
--@include outbox
--@include fields
--@include fair
local jobKey, eventsKey, waitingKey, unfinishedKey, outboxKey, intentsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local runningKey, heldKey, fairKey, apiKeyKey, attachedKey = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local deadlinesKey = KEYS[12]
local id, status, fieldsJson, retentionS, now, onlyFrom, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local jobKeyPrefix, keyId, priorityLimit = ARGV[8], ARGV[9], tonumber(ARGV[10])

local current = redis.call('HGET', jobKey, 'status')
if not current then return {'missing'} end
if current ~= 'queued' and current ~= 'processing' then return {'settled', current} end
if onlyFrom ~= '' and current ~= onlyFrom then return {'settled', current} end
local fields = cjson.decode(fieldsJson)
setFields(jobKey, fields)
redis.call('HSET', jobKey, 'status', status, 'completed_at', now)
redis.call('HDEL', jobKey, 'stage', 'held_limit', 'held_deadline_ms', 'attached_to')
if status == 'succeeded' then redis.call('HSET', jobKey, 'progress', 1) end
redis.call('ZREM', waitingKey, id)
redis.call('ZREM', deadlinesKey, id)
redis.call('ZREM', intentsKey, id)
redis.call('ZREM', runningKey, id)
redis.call('ZREM', heldKey, id)
redis.call('SREM', unfinishedKey, id)
local eventId = appendEvent(eventsKey, channel, id, 'type', 'completed', 'status', status)
-- A finished job keeps two progress events at most: its last one, and its last one with a step (how far the
-- denoising got, for a stream that joins late). The others (one per step or so) made up most of what a
-- retained job weighs (issue 17, finding 5). A stream resumed after this still ends with the outcome.
local progressIds, lastStepId = {}, nil
for _, e in ipairs(redis.call('XRANGE', eventsKey, '-', '+')) do
  local f = e[2]
  if f[1] == 'type' and f[2] == 'progress' then
    table.insert(progressIds, e[1])
    for i = 3, #f - 1, 2 do
      if f[i] == 'step' and f[i + 1] ~= '' then lastStepId = e[1] end
    end
  end
end
table.remove(progressIds)
local drop = {}
for _, eventIdToDrop in ipairs(progressIds) do
  if eventIdToDrop ~= lastStepId then table.insert(drop, eventIdToDrop) end
end
if #drop > 0 then redis.call('XDEL', eventsKey, unpack(drop)) end
redis.call('EXPIRE', jobKey, retentionS)
redis.call('EXPIRE', eventsKey, retentionS)
outbox(jobKey, outboxKey, id, 'completed', eventId)

local released, priority, objectKey = '', 0, ''
local nextId = redis.call('ZRANGE', heldKey, 0, 0)[1]
if nextId then
  local nextKey = jobKeyPrefix .. nextId
  local h = redis.call('HMGET', nextKey, 'held_limit', 'held_deadline_ms', 'seq', 'object_key', 'status')
  if h[5] ~= 'queued' then
    redis.call('ZREM', heldKey, nextId)
  elseif redis.call('SCARD', unfinishedKey) < (tonumber(h[1]) or 0) then
    redis.call('ZREM', heldKey, nextId)
    local round = fairRound(fairKey, waitingKey, keyId, redis.call('HGET', apiKeyKey, 'weight'))
    priority = enterWaiting(waitingKey, nextId, round, tonumber(h[3]), priorityLimit)
    redis.call('SADD', unfinishedKey, nextId)
    local time = redis.call('TIME')
    local ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    redis.call('ZADD', intentsKey, ms, nextId)
    local deadline = tonumber(now) + tonumber(h[2])
    redis.call('HSET', nextKey, 'priority', priority, 'deadline_at', deadline)
    redis.call('ZADD', deadlinesKey, deadline, nextId)
    redis.call('HDEL', nextKey, 'held_limit', 'held_deadline_ms')
    released, objectKey = nextId, h[4]
  end
end

local attached = {}
local ids = redis.call('LRANGE', attachedKey, 0, -1)
if #ids > 0 then
  local time = redis.call('TIME')
  local ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local weight = redis.call('HGET', apiKeyKey, 'weight')
  for _, other in ipairs(ids) do
    local otherKey = jobKeyPrefix .. other
    local h = redis.call('HMGET', otherKey, 'status', 'attached_to', 'held_deadline_ms', 'seq', 'object_key')
    -- Canceled (or ended otherwise) while attached: nothing to do.
    if h[1] == 'queued' and h[2] == id then
      local round
      if status == 'succeeded' then round = headRound(waitingKey) else round = fairRound(fairKey, waitingKey, keyId, weight) end
      local p = enterWaiting(waitingKey, other, round, tonumber(h[4]), priorityLimit)
      redis.call('ZADD', intentsKey, ms, other)
      local deadline = tonumber(now) + (tonumber(h[3]) or 0)
      redis.call('HSET', otherKey, 'priority', p, 'deadline_at', deadline)
      redis.call('ZADD', deadlinesKey, deadline, other)
      redis.call('HDEL', otherKey, 'attached_to', 'held_deadline_ms')
      table.insert(attached, other)
      table.insert(attached, tostring(p))
      table.insert(attached, h[5] or '')
    end
  end
  redis.call('DEL', attachedKey)
end
return {'done', eventId, released, priority, objectKey, attached}
