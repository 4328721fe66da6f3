-- TeamTalk schema (seed 001 tables + shared/teamtalk/schema-notes.md), utf8mb4 throughout.
-- Applied by `npm run db:migrate`; every statement is idempotent.
--
-- Beyond the original: UNIQUE keys where the original relied on
-- select-then-insert (relations, recent sessions, group members, login names,
-- and msgId per conversation), so concurrent first messages and retries can
-- never create duplicates. The original's index names are kept where queries
-- name them (FORCE INDEX (idx_relateId_status_created)); indexes that only
-- duplicated a unique key, or that no query uses, are left out: every index
-- is paid for on each message insert and each recent-session touch.

CREATE TABLE IF NOT EXISTS `IMAdmin` (
  `id` mediumint(6) unsigned NOT NULL AUTO_INCREMENT,
  `uname` varchar(40) NOT NULL COMMENT 'user name',
  `pwd` char(32) NOT NULL COMMENT 'md5 hex of the password',
  `status` tinyint(2) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMAudio` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL COMMENT 'sender id',
  `toId` int(11) unsigned NOT NULL COMMENT 'receiver user id or group id',
  `path` varchar(255) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'where the audio is stored',
  `size` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'audio byte count',
  `duration` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'seconds',
  `created` int(11) unsigned NOT NULL,
  `data` mediumblob NULL COMMENT 'audio bytes when no file server (msfs) is configured',
  PRIMARY KEY (`id`),
  KEY `idx_fromId_toId` (`fromId`,`toId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMDepart` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `departName` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `priority` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'display order',
  `parentId` int(11) unsigned NOT NULL COMMENT 'parent department id, 0 = top level',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_departName` (`departName`),
  KEY `idx_priority_status` (`priority`,`status`),
  KEY `idx_updated` (`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMDiscovery` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `itemName` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `itemUrl` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `itemPriority` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_itemName` (`itemName`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroup` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(256) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `avatar` varchar(256) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `creator` int(11) unsigned NOT NULL DEFAULT '0' COMMENT 'creator user id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '1' COMMENT '1 normal, 2 temporary',
  `userCnt` int(11) unsigned NOT NULL DEFAULT '0',
  `status` tinyint(3) unsigned NOT NULL DEFAULT '1' COMMENT '0 normal, 1 deleted (the server always inserts 0)',
  `version` int(11) unsigned NOT NULL DEFAULT '1',
  `lastChated` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_name` (`name`(191)),
  KEY `idx_creator` (`creator`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMember` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `status` tinyint(4) unsigned NOT NULL DEFAULT '1' COMMENT '0 member, 1 left (the server always inserts 0)',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_userId` (`groupId`,`userId`),
  KEY `idx_groupId_userId_status` (`groupId`,`userId`,`status`),
  KEY `idx_userId_status_updated` (`userId`,`status`,`updated`),
  KEY `idx_groupId_updated` (`groupId`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMGroupMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL COMMENT 'sender',
  `msgId` int(11) unsigned NOT NULL COMMENT 'per group, from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '17' COMMENT 'MsgType: 17 group text, 18 group audio',
  `status` int(11) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`,`msgId`),
  KEY `idx_groupId_status_created` (`groupId`,`status`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_0` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_1` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_2` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_3` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_4` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_5` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_6` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMMessage_7` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL COMMENT 'IMRelationShip.id',
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL COMMENT 'per relation (both directions), from 1',
  `content` varchar(4096) COLLATE utf8mb4_bin DEFAULT '' COMMENT 'text as sent (client-encrypted), or the IMAudio id',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1' COMMENT 'MsgType: 1 text, 2 audio',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`,`msgId`),
  KEY `idx_relateId_status_created` (`relateId`,`status`,`created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`,`status`,`msgId`,`created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMRecentSession` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `userId` int(11) unsigned NOT NULL COMMENT 'owner of the session',
  `peerId` int(11) unsigned NOT NULL COMMENT 'peer user id or group id',
  `type` tinyint(1) unsigned DEFAULT '0' COMMENT '1 single, 2 group',
  `status` tinyint(1) unsigned DEFAULT '0' COMMENT '0 active, 1 removed',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_userId_peerId_type` (`userId`,`peerId`,`type`),
  KEY `idx_userId_status_updated` (`userId`,`status`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMRelationShip` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `smallId` int(11) unsigned NOT NULL COMMENT 'the smaller of the two user ids',
  `bigId` int(11) unsigned NOT NULL COMMENT 'the bigger of the two user ids',
  `status` tinyint(1) unsigned DEFAULT '0' COMMENT '0 normal, 1 deleted',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_smallId_bigId` (`smallId`,`bigId`),
  KEY `idx_smallId_bigId_status_updated` (`smallId`,`bigId`,`status`,`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMUser` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `sex` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 unknown, 1 male, 2 female',
  `name` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'login name',
  `domain` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'pinyin of the name',
  `nick` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `password` varchar(32) COLLATE utf8mb4_bin NOT NULL DEFAULT '' COMMENT 'md5(md5(plain) + salt), lowercase hex',
  `salt` varchar(4) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `phone` varchar(11) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `email` varchar(64) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `avatar` varchar(255) COLLATE utf8mb4_bin DEFAULT '',
  `departId` int(11) unsigned NOT NULL,
  `status` tinyint(2) unsigned DEFAULT '0' COMMENT 'employment state; 0 may log in, 3 left the company (clients hide)',
  `push_shield_status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '1 = do not disturb',
  `sign_info` varchar(128) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_name` (`name`),
  KEY `idx_domain` (`domain`),
  KEY `idx_name` (`name`),
  KEY `idx_phone` (`phone`),
  KEY `idx_updated` (`updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `IMTransmitFile` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `fileName` varchar(512) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `size` int(11) unsigned NOT NULL DEFAULT '0',
  `taskId` varchar(128) COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0' COMMENT '0 waiting for download',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_toId_status_created` (`toId`,`status`,`created`),
  KEY `idx_fromId_toId_taskId` (`fromId`,`toId`,`taskId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
