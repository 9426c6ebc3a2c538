-- A worker takes the job (or takes it again after a crash).
-- Returns {'started', eventId} | {'missing'} | {'cancel'} | {'settled', status}.
--@include outbox
local jobKey, eventsKey, waitingKey, outboxKey, intentsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local runningKey, deadlinesKey = KEYS[6], KEYS[7]
local id, attempt, now, worker, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local status = redis.call('HGET', jobKey, 'status')
if not status then return {'missing'} end
if status ~= 'queued' and status ~= 'processing' then return {'settled', status} end
if redis.call('HGET', jobKey, 'cancel_requested') == '1' then return {'cancel'} end
if not redis.call('HGET', jobKey, 'started_at') then redis.call('HSET', jobKey, 'started_at', now) end
redis.call('HSET', jobKey, 'status', 'processing', 'attempt', attempt, 'progress', 0, 'stage', 'analyzing', 'worker', worker)
redis.call('ZREM', waitingKey, id)
redis.call('ZREM', deadlinesKey, id)
redis.call('ZREM', intentsKey, id)
-- Running jobs by start time (Redis's clock), so the dispatcher can find one no worker will settle.
local time = redis.call('TIME')
redis.call('ZADD', runningKey, tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), id)
local eventId = appendEvent(eventsKey, channel, id, 'type', 'started', 'attempt', attempt)
outbox(jobKey, outboxKey, id, 'started', eventId)
return {'started', eventId}
