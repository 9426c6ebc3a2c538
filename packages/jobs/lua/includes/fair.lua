-- Fair order over API keys (self-clocked weighted fair queuing): each key has a finish tag in the `fair`
-- hash (field k:<key id>); a job's tag is max(virtual time, the key's tag) + 5040 / weight, and it is
-- taken in the round ceil(tag / 5040) — so a key of weight w gets w jobs a round. The virtual time is the
-- round just before the one at the head of the waiting set: a key that was idle starts at the head's round,
-- never ahead of it (no credit for idling), and a key with 200 queued jobs has them spread over 200
-- rounds. The waiting set's score is round · 2^30 + seq (round, then submit order: BullMQ's order for
-- priority = round); the BullMQ priority is the round, capped at its limit.
local ROUND = 5040
local SEQ_SPAN = 1073741824

local function fairRound(fairKey, waitingKey, keyId, weight)
  local virtual = 0
  local head = redis.call('ZRANGE', waitingKey, 0, 0, 'WITHSCORES')
  if head[2] then
    virtual = (math.floor(tonumber(head[2]) / SEQ_SPAN) - 1) * ROUND
  else
    -- Nothing waits: no key is ahead of another, so the tags start again (they stay small).
    redis.call('DEL', fairKey)
  end
  local w = math.max(1, math.min(100, tonumber(weight) or 1))
  local tag = math.max(virtual, tonumber(redis.call('HGET', fairKey, 'k:' .. keyId)) or 0) + math.floor(ROUND / w)
  redis.call('HSET', fairKey, 'k:' .. keyId, tag)
  return math.ceil(tag / ROUND)
end

-- Puts a job into the waiting set at its fair place; returns the BullMQ priority.
local function enterWaiting(waitingKey, id, round, seq, priorityLimit)
  redis.call('ZADD', waitingKey, round * SEQ_SPAN + (seq % SEQ_SPAN), id)
  return math.min(round, priorityLimit)
end

-- The round at the head of the waiting set (1 when nothing waits): a job placed there is taken next, and no
-- key's tag moves.
local function headRound(waitingKey)
  local head = redis.call('ZRANGE', waitingKey, 0, 0, 'WITHSCORES')
  if head[2] then return math.floor(tonumber(head[2]) / SEQ_SPAN) end
  return 1
end
