-- Stage and progress while processing; progress webhooks are throttled to one a second per job (and
-- always the last step). Returns the event id, or '' when the job is not processing.
--@include outbox
local jobKey, eventsKey, outboxKey = KEYS[1], KEYS[2], KEYS[3]
local id, stage, step, total, progress, now, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]

if redis.call('HGET', jobKey, 'status') ~= 'processing' then return '' end
redis.call('HSET', jobKey, 'stage', stage, 'progress', progress)
local eventId = appendEvent(eventsKey, channel, id, 'type', 'progress', 'stage', stage, 'step', step, 'total', total, 'progress', progress)
local last = tonumber(redis.call('HGET', jobKey, 'wh_progress_at') or '0')
if now - last >= 1000 or (step ~= '' and step == total) then
  local subscribed = redis.call('HGET', jobKey, 'wh_events')
  if subscribed and string.find(subscribed, ',progress,', 1, true) then
    redis.call('HSET', jobKey, 'wh_progress_at', now)
    outbox(jobKey, outboxKey, id, 'progress', eventId)
  end
end
return eventId
