-- Token bucket: `capacity` requests, refilled at `perMs` per millisecond, timed by Redis's own clock
-- (TIME) so API replicas with skewed clocks share one bucket fairly. `cost` tokens are taken when one is
-- there (1 for a request; 0 only looks: is a token there?).
-- Returns allowed (0/1), tokens left (floor), ms until the next token.
local function takeToken(bucketKey, capacity, perMs, ttlMs, cost)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local b = redis.call('HMGET', bucketKey, 'tokens', 'at')
  local tokens = tonumber(b[1]) or capacity
  local at = tonumber(b[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * perMs)
  local allowed = 0
  if tokens >= 1 then tokens = tokens - cost; allowed = 1 end
  -- Only a take writes: a look (cost 0) would store the same refill it computed, so it leaves the bucket
  -- as it is (the lean submit looks at the address's failed-auth budget on every request).
  if cost > 0 then
    redis.call('HSET', bucketKey, 'tokens', tostring(tokens), 'at', now)
    redis.call('PEXPIRE', bucketKey, ttlMs)
  end
  local wait = 0
  if tokens < 1 then wait = math.ceil((1 - tokens) / perMs) end
  return allowed, math.floor(tokens), wait
end
