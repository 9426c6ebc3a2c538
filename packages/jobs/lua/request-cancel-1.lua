-- Flags a processing job for cancellation and tells every worker on the cancel channel.
-- Returns the status seen, or 'missing'.
local jobKey = KEYS[1]
local id, channel = ARGV[1], ARGV[2]
local status = redis.call('HGET', jobKey, 'status')
if not status then return 'missing' end
if status == 'processing' then
  redis.call('HSET', jobKey, 'cancel_requested', '1')
  redis.call('PUBLISH', channel, id)
end
return status
