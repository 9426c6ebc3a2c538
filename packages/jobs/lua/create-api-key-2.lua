-- Creates an API key record unless its id is taken: a new key never overwrites another that drew the
-- same random id. KEYS: the key's hash, the set of key ids. ARGV[1]: the id; ARGV[2]: JSON of its fields.
-- Returns 1 when created, 0 when the id exists.
local apiKey, apiKeys = KEYS[1], KEYS[2]
local id, fieldsJson = ARGV[1], ARGV[2]
if redis.call('EXISTS', apiKey) == 1 then return 0 end
for k, v in pairs(cjson.decode(fieldsJson)) do redis.call('HSET', apiKey, k, v) end
redis.call('SADD', apiKeys, id)
return 1
