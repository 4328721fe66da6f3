-- The newest message of every conversation, one row each (issue 18: reads that stay fast as history grows).
--
-- Recent sessions and unread counts show, for up to 100 conversations, the
-- newest message of each. Read from the message tables that is one backward
-- step on each conversation's primary key, in tables far larger than memory
-- once the history is: up to 100 pages read from disk per request. This table
-- has one small row per conversation (single: IMRelationShip.id; group:
-- IMGroup.id), written in the same transaction as the message rows (for
-- message tables on other servers: just after their transaction), so it stays
-- in memory and a request reads it with one primary-key lookup per conversation.
--
-- It is a copy, and readers treat it as one: a row counts only while its msgId
-- equals the conversation's msg-id counter in Redis (the highest id given out);
-- otherwise (no row yet, a message being stored right now, messages written by
-- the original db_proxy, which knows nothing of this table) the reader takes the
-- newest row from the message table as before and puts it here. So this file
-- needs no backfill: an existing database fills the table as it is read and
-- written. (`npm run db:prefill` fills it for the histories it loads.)
--
-- Online: a new table; nothing else changes. Safe to run again.

CREATE TABLE IF NOT EXISTS `IMLatestMessage` (
  `sessionType` tinyint(3) unsigned NOT NULL COMMENT 'SessionType: 1 single (conversationId = IMRelationShip.id), 2 group (IMGroup.id)',
  `conversationId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'the newest msgId stored in the conversation',
  `type` tinyint(3) unsigned NOT NULL COMMENT 'its MsgType',
  `fromId` int(11) unsigned NOT NULL COMMENT 'its real sender',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'as in the message table (text, or the IMAudio id)',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`sessionType`, `conversationId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
