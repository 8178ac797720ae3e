-- Search indexes each owner's words apart from everyone else's.
--
-- The mailbox's search index was a GIN over (owner, search) (btree_gin for `owner`). A prefix
-- term (`appoint:*`, as every search word is) is a "partial match": GIN collects the rows of
-- every lexeme with that prefix, for all owners, into one bitmap before it intersects it with
-- the owner's rows. At 1M messages a common word's prefix meant some 100k rows of everyone, 25 ms
-- per search even for a user with 557 rows, and past `work_mem` the bitmap went lossy (pages, not
-- rows), so the heaviest user's search rechecked 38k rows to find 14k (EXPLAIN ANALYZE on the 1M
-- bench, 2026-12-02: 28 ms and 150-180 ms).
--
-- Now the index holds each lexeme of a row prefixed with its owner and `/` (`p000000/budget`),
-- so a prefix term `'p000000/budg':*` scans only that owner's entries: the same searches took
-- 1 ms and 37 ms. A username has no `/` (a-z, 0-9, `_`, `.`, `-`), so `X/...` starts with `Y/...`
-- only when X = Y: the match alone keeps a search inside the caller's rows. `search` (with its
-- weights and positions) stays the source of ranking and snippets; the index needs neither.
CREATE FUNCTION mailbox_owned_terms(owner text, search tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array_to_tsvector(string_to_array(
        owner || '/' || array_to_string(tsvector_to_array(search), chr(31) || owner || '/'),
        chr(31)))
$$;

COMMENT ON FUNCTION mailbox_owned_terms(text, tsvector) IS
    'The lexemes of a mailbox row, each prefixed with its owner and "/": the search index';

DROP INDEX public.mailbox_search_idx;
CREATE INDEX mailbox_search_idx ON public.mailbox
    USING gin (public.mailbox_owned_terms(owner, search))
    WITH (gin_pending_list_limit = 256) WHERE NOT deleted;

ALTER FUNCTION create_read_model(text, text) RENAME TO create_read_model_v4;

CREATE FUNCTION create_read_model(projection text, target_schema text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM create_read_model_v4(projection, target_schema);
    IF projection = 'mailbox' THEN
        EXECUTE format($ddl$
            DROP INDEX %1$I.mailbox_search_idx;
            CREATE INDEX mailbox_search_idx ON %1$I.mailbox
                USING gin (public.mailbox_owned_terms(owner, search))
                WITH (gin_pending_list_limit = 256) WHERE NOT deleted;
        $ddl$, target_schema);
    END IF;
END
$fn$;
