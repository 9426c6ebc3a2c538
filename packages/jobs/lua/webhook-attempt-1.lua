-- Records a webhook delivery attempt on the job, if the job still exists (never recreates a purged
-- record). The terminal event's outcome is what the job shows; earlier events only fill in until then.
local jobKey = KEYS[1]
local terminal, status, at, lastError, deliveredAt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', jobKey) == 0 then return 0 end
redis.call('HINCRBY', jobKey, 'wh_attempts', 1)
if terminal == '1' or redis.call('HGET', jobKey, 'wh_final') ~= '1' then
  redis.call('HSET', jobKey, 'wh_status', status, 'wh_last_attempt_at', at, 'wh_last_error', lastError)
  if deliveredAt ~= '' then redis.call('HSET', jobKey, 'wh_delivered_at', deliveredAt) end
  if terminal == '1' then redis.call('HSET', jobKey, 'wh_final', '1') end
end
return 1
