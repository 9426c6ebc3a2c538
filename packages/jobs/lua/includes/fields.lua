-- Writes a decoded JSON object's fields into a hash with one HSET (not one call per field).
local function setFields(hashKey, fields)
  local flat = {}
  for k, v in pairs(fields) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  if #flat > 0 then redis.call('HSET', hashKey, unpack(flat)) end
end
