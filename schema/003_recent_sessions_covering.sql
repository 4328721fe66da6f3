-- Recent sessions read from one index range (issue 18: reads that stay fast as history grows).
--
-- A client's recent-session list is its 100 newest IMRecentSession rows:
-- WHERE userId = ? AND status = 0 AND updated > ? ORDER BY updated DESC, id DESC.
-- idx_userId_status_updated finds them in order, but peerId and type are not in
-- it: each of the 100 rows was then one lookup in the clustered index, rows
-- created over years and scattered over a table that outgrows memory (up to 100
-- pages read from disk per request). The new index carries peerId and type
-- after the order columns (updated, id), so the query reads 100 adjacent index
-- entries and nothing else ("Using index"), in the same order; it replaces the
-- old one, whose every query it serves as a prefix. The cost on writes is the
-- same: each touch already moved the row's entry (updated is in both).
--
-- Online: built in place while reads and writes go on (ALGORITHM=INPLACE,
-- LOCK=NONE); the new index is added before the old one is dropped, in one
-- statement. Safe to run again (IF NOT EXISTS / IF EXISTS).

ALTER TABLE `IMRecentSession`
  ADD KEY IF NOT EXISTS `idx_userId_status_updated_id_peer` (`userId`, `status`, `updated`, `id`, `peerId`, `type`),
  DROP INDEX IF EXISTS `idx_userId_status_updated`,
  ALGORITHM=INPLACE, LOCK=NONE;
