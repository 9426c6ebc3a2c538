-- Creates a queued job with its checks, atomically: idempotency replay, global queue bound, the key's
-- concurrency limit; writes the record, its `queued` event, the key's slot, the idempotency record, the
-- webhook intent, the enqueue intent and the key's job index entry together, so a process that dies
-- after this script leaves a job that will run (the dispatcher enqueues intents left behind), never a
-- record that only holds a slot.
-- Returns {'created', seq, eventId} | {'idempotent', value} | {'queue_full'} | {'concurrency', n}.
--@include outbox
local jobKey, eventsKey, waitingKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unfinishedKey, idemKey, outboxKey, intentsKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local keyJobsKey = KEYS[9]
local id, fieldsJson, concurrency, idemValue = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local idemTtlS, queueBound, channel = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local keyJobsMax = tonumber(ARGV[8])

if idemValue ~= '' then
  local existing = redis.call('GET', idemKey)
  if existing then return {'idempotent', existing} end
end
if queueBound > 0 and redis.call('ZCARD', waitingKey) >= queueBound then return {'queue_full'} end
local unfinished = redis.call('SCARD', unfinishedKey)
if unfinished >= concurrency then return {'concurrency', unfinished} end

local seq = redis.call('INCR', seqKey)
local fields = cjson.decode(fieldsJson)
for k, v in pairs(fields) do redis.call('HSET', jobKey, k, v) end
redis.call('HSET', jobKey, 'seq', seq, 'status', 'queued')
redis.call('ZADD', waitingKey, seq, id)
redis.call('SADD', unfinishedKey, id)
-- The intent is timed by Redis's clock, as the dispatcher reads it: API and dispatcher hosts may disagree.
local time = redis.call('TIME')
redis.call('ZADD', intentsKey, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), id)
-- The key's job index (newest first by seq), for listing without a scan; bounded to its newest entries.
redis.call('ZADD', keyJobsKey, seq, id)
redis.call('ZREMRANGEBYRANK', keyJobsKey, 0, -(keyJobsMax + 1))
if idemValue ~= '' then redis.call('SET', idemKey, idemValue, 'EX', idemTtlS) end
local eventId = appendEvent(eventsKey, channel, id, 'type', 'queued')
outbox(jobKey, outboxKey, id, 'queued', eventId)
return {'created', seq, eventId}
