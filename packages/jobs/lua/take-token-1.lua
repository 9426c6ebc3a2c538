-- One take from a token bucket (includes/bucket.lua).
-- Returns {allowed 0/1, tokens left (floor), ms until the next token}.
--@include bucket
local bucketKey = KEYS[1]
local capacity, perMs, ttlMs, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local allowed, left, wait = takeToken(bucketKey, capacity, perMs, ttlMs, cost)
return {allowed, left, wait}
