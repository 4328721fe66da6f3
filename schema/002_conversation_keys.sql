-- Message tables keyed by conversation (issue 18: throughput that holds as history grows).
--
-- Before: rows clustered by the AUTO_INCREMENT id, plus three secondary indexes
-- per single-message table, two of them starting with relateId. Every stored
-- message then wrote one index entry per secondary index at a random place, and
-- a history page read one scattered clustered page per message: both touch more
-- pages that are not in memory as the tables grow.
--
-- After: the primary key is the conversation and its msg id, (relateId, msgId) and
-- (groupId, msgId), which was the unique key already. A conversation's messages
-- sit together in msg-id order: a new message lands at the end of its
-- conversation (the tables' right edge for a conversation started today), and a
-- history page, the newest message or MAX(msgId) is one short range of one or
-- two pages. `id` stays (AUTO_INCREMENT, unique, the original's column). Kept:
-- idx_relateId_status_created, which the original db_proxy names in
-- FORCE INDEX, so it can still share the database, and idx_groupId_status_created
-- (a member's history starts at their join time): both now end with `id`
-- explicitly (the primary key no longer supplies it), so the original's
-- "ORDER BY created DESC, id DESC" is still read in index order. Dropped: the unique keys
-- that became primary keys, idx_relateId_status_msgId_created (every read
-- it served is a range of the primary key now), and IMRelationShip's
-- idx_smallId_bigId_status_updated (uk_smallId_bigId finds the same rows).
--
-- Online: each ALTER rebuilds its table in place while reads and writes go on
-- (ALGORITHM=INPLACE, LOCK=NONE: MariaDB refuses rather than lock). Writes made
-- during a rebuild are logged and replayed at its end; with heavy traffic on a
-- large table raise innodb_online_alter_log_max_size (the local MariaDB has 1G).
-- A table with duplicate (relateId, msgId) rows (an original TeamTalk database
-- had no unique key) fails with "Duplicate entry": remove the duplicates first.
-- Every statement can run again (IF EXISTS / IF NOT EXISTS). `IMMessage_N` /
-- `IMGroupMessage_N` stand for every message table, wherever it is (the
-- migrator runs the statement once per table, on its server: scripts/db/migrate.ts).

ALTER TABLE `IMMessage_N`
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (`relateId`, `msgId`),
  ADD UNIQUE KEY IF NOT EXISTS `uk_id` (`id`),
  DROP INDEX IF EXISTS `uk_relateId_msgId`,
  DROP INDEX IF EXISTS `idx_relateId_status_msgId_created`,
  DROP INDEX IF EXISTS `idx_relateId_status_created`,
  ADD KEY `idx_relateId_status_created` (`relateId`, `status`, `created`, `id`),
  ALGORITHM=INPLACE, LOCK=NONE;

ALTER TABLE `IMGroupMessage_N`
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (`groupId`, `msgId`),
  ADD UNIQUE KEY IF NOT EXISTS `uk_id` (`id`),
  DROP INDEX IF EXISTS `uk_groupId_msgId`,
  DROP INDEX IF EXISTS `idx_groupId_status_created`,
  ADD KEY `idx_groupId_status_created` (`groupId`, `status`, `created`, `id`),
  ALGORITHM=INPLACE, LOCK=NONE;

ALTER TABLE `IMRelationShip`
  DROP INDEX IF EXISTS `idx_smallId_bigId_status_updated`,
  ALGORITHM=INPLACE, LOCK=NONE;
