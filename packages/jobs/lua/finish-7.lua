-- Terminal transition, at most once: whoever races for it (workers, retries, cancel, expiry), the job
-- reaches exactly one terminal status. `onlyFrom` ('' = any non-terminal) restricts the current status.
-- Returns {'done', eventId} | {'settled', status} | {'missing'}.
--@include outbox
local jobKey, eventsKey, waitingKey, unfinishedKey, outboxKey, intentsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local runningKey = KEYS[7]
local id, status, fieldsJson, retentionS, now, onlyFrom, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local current = redis.call('HGET', jobKey, 'status')
if not current then return {'missing'} end
if current ~= 'queued' and current ~= 'processing' then return {'settled', current} end
if onlyFrom ~= '' and current ~= onlyFrom then return {'settled', current} end
local fields = cjson.decode(fieldsJson)
for k, v in pairs(fields) do redis.call('HSET', jobKey, k, v) end
redis.call('HSET', jobKey, 'status', status, 'completed_at', now)
redis.call('HDEL', jobKey, 'stage')
if status == 'succeeded' then redis.call('HSET', jobKey, 'progress', 1) end
redis.call('ZREM', waitingKey, id)
redis.call('ZREM', intentsKey, id)
redis.call('ZREM', runningKey, id)
redis.call('SREM', unfinishedKey, id)
local eventId = appendEvent(eventsKey, channel, id, 'type', 'completed', 'status', status)
redis.call('EXPIRE', jobKey, retentionS)
redis.call('EXPIRE', eventsKey, retentionS)
outbox(jobKey, outboxKey, id, 'completed', eventId)
return {'done', eventId}
