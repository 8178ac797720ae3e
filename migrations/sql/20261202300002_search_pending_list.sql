-- The mailbox's search index (GIN) takes new rows into its pending list and merges the list
-- into the index when it reaches `gin_pending_list_limit` (4 MB by default): at 1M messages one
-- projector batch in every few seconds of a 500 sends/s load paid that whole merge (the lag's
-- p99 and max grew with the table), and every search scans the pending list in full. A 256 kB
-- list bounds both: merges are small and frequent, searches scan little. (Measured 2026-12-02 on
-- the 1M bench: 228 pending pages, 6,734 pending entries after the load steps.)
ALTER INDEX public.mailbox_search_idx SET (gin_pending_list_limit = 256);

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v3;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v3(projection, target_schema);
    IF projection = 'mailbox' THEN
        EXECUTE format('ALTER INDEX %I.mailbox_search_idx SET (gin_pending_list_limit = 256)',
                       target_schema);
    END IF;
END
$fn$;
