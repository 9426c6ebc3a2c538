-- Sets fields (a JSON object) on an existing API key's record only: never creates a record without a
-- secret's hash. Returns 1 when written, 0 for an unknown key.
local apiKeyKey, fieldsJson = KEYS[1], ARGV[1]
if redis.call('HEXISTS', apiKeyKey, 'hash') == 0 then return 0 end
for k, v in pairs(cjson.decode(fieldsJson)) do redis.call('HSET', apiKeyKey, k, v) end
return 1
