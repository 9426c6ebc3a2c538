-- Appends a webhook delivery intent to the outbox stream when the job subscribed to this event kind
-- (hash field wh_events, e.g. ",queued,completed,"). Called in the same script as the state change, so an
-- event is never lost between the change and its delivery (a transactional outbox). The entry's fields
-- (job, type, event) are contracts' OutboxEntry.
local function outbox(jobKey, outboxKey, id, kind, eventId)
  local subscribed = redis.call('HGET', jobKey, 'wh_events')
  if subscribed and string.find(subscribed, ',' .. kind .. ',', 1, true) then
    redis.call('XADD', outboxKey, '*', 'job', id, 'type', kind, 'event', eventId)
  end
end

-- Appends an event to the job's stream (bounded) and announces "<job id> <event id>" on the channel.
local function appendEvent(eventsKey, channel, id, ...)
  local eventId = redis.call('XADD', eventsKey, 'MAXLEN', '~', 2000, '*', ...)
  redis.call('PUBLISH', channel, id .. ' ' .. eventId)
  return eventId
end
