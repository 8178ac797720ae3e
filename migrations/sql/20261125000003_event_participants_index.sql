-- Lets "mark the whole conversation read" find a pair's messages in the log itself (the truth)
-- without scanning it: only MessageSent rows are indexed, by recipient then sender.
CREATE INDEX events_sent_participants_idx
    ON events ((payload -> 'MessageSent' ->> 'recipient'), (payload -> 'MessageSent' ->> 'sender'))
    WHERE event_type = 'MessageSent';
