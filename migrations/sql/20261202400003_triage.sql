-- The clinician's triage (`GET /api/clinician/triage`, issue 14): who has waited longest for an
-- answer. Two tables of the `mailbox` projection, written by its fold in the same transaction as
-- the inbox (`projections/src/read_models/triage.rs`), for every send between a clinician and a
-- patient, in commit order:
--   triage_waits    one row per (clinician, patient) pair that ever exchanged a message:
--                   `waiting_since` is the `sent_at` of the first patient message (in commit
--                   order) after the clinician's last message to that patient; NULL when none
--                   waits.
--   triage_replies  one row per clinician message that ended a wait: when the wait began and
--                   when it ended (the median reply time is computed by the query, over the
--                   last 90 days, from these two times; no rounded minutes are stored).
-- Both follow the log of sends only: a deleted or hidden message still began or ended a wait
-- (what happened, not what is shown now).

CREATE FUNCTION create_triage_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($ddl$
        CREATE TABLE %1$I.triage_waits (
            clinician     text        NOT NULL,
            patient       text        NOT NULL,
            waiting_since timestamptz,
            PRIMARY KEY (clinician, patient)
        );
        CREATE TABLE %1$I.triage_replies (
            clinician    text        NOT NULL,
            patient      text        NOT NULL,
            message_id   uuid        NOT NULL,
            waited_since timestamptz NOT NULL,
            replied_at   timestamptz NOT NULL,
            PRIMARY KEY (clinician, patient, message_id)
        );
        -- The last 90 days of one pair (the median of the triage list).
        CREATE INDEX triage_replies_recent_idx
            ON %1$I.triage_replies (clinician, patient, replied_at);
    $ddl$, target_schema);
END
$fn$;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v5;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v5(projection, target_schema);
    IF projection = 'mailbox' THEN
        PERFORM create_triage_tables(target_schema);
    END IF;
END
$fn$;

SELECT create_triage_tables('public');

-- The history the live mailbox tables already hold (events up to the mailbox checkpoint), with
-- the fold's rules in SQL, so that a replay (`projector verify`) finds the same rows. `sent_at`
-- is cut to microseconds as the fold's writes cut it (sqlx truncates; a text cast would round).
WITH checkpoint AS (
    SELECT transaction_id, global_position
    FROM projection_checkpoints WHERE projection = 'mailbox'
),
sends AS (
    SELECT e.transaction_id, e.global_position,
           (p ->> 'message_id')::uuid AS message_id,
           regexp_replace(p ->> 'sent_at', '(\.[0-9]{6})[0-9]+', '\1')::timestamptz AS sent_at,
           p ->> 'sender_role' = 'patient' AS from_patient,
           CASE WHEN p ->> 'sender_role' = 'clinician' THEN p ->> 'sender'
                ELSE p ->> 'recipient' END AS clinician,
           CASE WHEN p ->> 'sender_role' = 'patient' THEN p ->> 'sender'
                ELSE p ->> 'recipient' END AS patient
    FROM checkpoint c
    JOIN events e ON (e.transaction_id, e.global_position) <= (c.transaction_id, c.global_position)
    CROSS JOIN LATERAL (SELECT e.payload -> 'MessageSent') AS x (p)
    WHERE e.event_type = 'MessageSent'
      AND (p ->> 'sender_role', p ->> 'recipient_role')
          IN (('clinician', 'patient'), ('patient', 'clinician'))
),
-- A pair's sends fall into segments: segment k holds the patient messages after the k-th
-- clinician message, and ends with the next clinician message (which counts k before it).
segmented AS (
    SELECT s.*,
           count(*) FILTER (WHERE NOT s.from_patient) OVER (
               PARTITION BY s.clinician, s.patient
               ORDER BY s.transaction_id, s.global_position
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS segment
    FROM sends s
),
segments AS (
    SELECT clinician, patient, segment,
           (array_agg(sent_at ORDER BY transaction_id, global_position)
                FILTER (WHERE from_patient))[1] AS wait_began,
           (array_agg(message_id) FILTER (WHERE NOT from_patient))[1] AS reply_id,
           (array_agg(sent_at) FILTER (WHERE NOT from_patient))[1] AS replied_at
    FROM segmented
    GROUP BY clinician, patient, segment
),
replies AS (
    INSERT INTO triage_replies (clinician, patient, message_id, waited_since, replied_at)
    SELECT clinician, patient, reply_id, wait_began, replied_at
    FROM segments
    WHERE reply_id IS NOT NULL AND wait_began IS NOT NULL
)
INSERT INTO triage_waits (clinician, patient, waiting_since)
SELECT clinician, patient,
       (array_agg(wait_began ORDER BY segment DESC) FILTER (WHERE reply_id IS NULL))[1]
FROM segments
GROUP BY clinician, patient;
