-- Sets fields of an existing, unfinished job record; never recreates a purged one. Counter fields in
-- ARGV[2] (JSON name → increment) are incremented. Returns 1 when written, 0 otherwise.
local jobKey = KEYS[1]
local fieldsJson, countersJson = ARGV[1], ARGV[2]
local status = redis.call('HGET', jobKey, 'status')
if status ~= 'queued' and status ~= 'processing' then return 0 end
for k, v in pairs(cjson.decode(fieldsJson)) do redis.call('HSET', jobKey, k, v) end
for k, v in pairs(cjson.decode(countersJson)) do redis.call('HINCRBY', jobKey, k, v) end
return 1
