-- The append horizon: how far the projectors may read the log, held back only by transactions
-- that append events (docs/projector.md, "The horizon", has the argument in full).
--
-- Before, the horizon was pg_snapshot_xmin(pg_current_snapshot()): the oldest transaction id still
-- running anywhere in the cluster. Any transaction that had written anything, in any database of
-- the server (a batch job, CREATE INDEX CONCURRENTLY, a session idle in transaction), held every
-- projection back for as long as it stayed open.
--
-- Now a transaction that appends to `events` announces itself first: a statement trigger takes a
-- shared transaction-level advisory lock *before* the first row is written, which is before the
-- transaction has an id. A transaction that already has an id (it wrote something else first)
-- is refused: its id could be older than a horizon a projector has already passed. The
-- horizon is then the lowest id among running transactions that hold the lock, bounded by the
-- snapshot's xmax; every id below it belongs to a transaction that has ended.

CREATE FUNCTION events_announce_appender() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF current_setting('hs.appending', true) IS DISTINCT FROM 'on' THEN
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
            RAISE EXCEPTION 'events must be appended by a transaction that has written nothing before'
                USING ERRCODE = '55000',
                      HINT = 'append in a transaction of its own, or append before any other write';
        END IF;
        -- Key (0x48530004, 0): the appenders' lock. Shared: appenders never wait for each other.
        PERFORM pg_advisory_xact_lock_shared(1213399044, 0);
        PERFORM set_config('hs.appending', 'on', true);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER events_announce_appender
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_announce_appender();

-- Every event with a transaction id below this value is final: its transaction has committed
-- or aborted. Call it in a statement of its own and read the log in a *later* statement (a new
-- snapshot, READ COMMITTED): the snapshot below is taken before pg_locks is read, and the read
-- of the log must see every transaction that had ended by then.
CREATE FUNCTION events_horizon() RETURNS xid8
LANGUAGE sql VOLATILE AS $fn$
    SELECT least(
        pg_snapshot_xmax(pg_current_snapshot()),
        (SELECT min(running)
         FROM pg_snapshot_xip(pg_current_snapshot()) AS running
         WHERE running::text::bigint % 4294967296 IN (
             SELECT own.transactionid::text::bigint
             FROM pg_locks appender
             JOIN pg_locks own
               ON own.virtualtransaction = appender.virtualtransaction
              AND own.locktype = 'transactionid'
              AND own.mode = 'ExclusiveLock'
              AND own.granted
             WHERE appender.locktype = 'advisory'
               AND appender.database = (SELECT oid FROM pg_database
                                        WHERE datname = current_database())
               AND appender.classid = 1213399044
               AND appender.objid = 0
               AND appender.objsubid = 2
               AND appender.granted)))
$fn$;
