/** Everything the handlers share: storage gateways and the state classes built on them. */
import type { Logger } from '../../lib/log';
import type { DbProxyConfig } from './config';
import type { DatabaseServers } from './database-servers';
import type { GroupMembership } from './group-membership';
import type { LoginFailures } from './login-failures';
import type { MessageReader } from './message-reader';
import type { MessageStore } from './message-store';
import type { MessageTables } from './message-tables';
import type { MysqlGateway } from './mysql-gateway';
import type { RecentSessionTouches } from './recent-session-touches';
import type { RedisGateway } from './redis-gateway';
import type { Relations } from './relations';
import type { UnreadCounters } from './unread-counters';
import type { UserDirectory } from './user-directory';
import type { AllUsersSnapshot } from './all-users-snapshot';

export interface DbProxyContext {
  readonly config: DbProxyConfig;
  readonly logger: Logger;
  /** The main database's primary: users, groups, relations, sessions (writes, and reads that must see the latest). */
  readonly mysql: MysqlGateway;
  /** Every database server: main (with replicas for reads: databases.main.read) and the message-table shards. */
  readonly databases: DatabaseServers;
  readonly redis: RedisGateway;
  readonly tables: MessageTables;
  readonly relations: Relations;
  readonly touches: RecentSessionTouches;
  readonly reader: MessageReader;
  readonly unread: UnreadCounters;
  readonly members: GroupMembership;
  readonly store: MessageStore;
  readonly loginFailures: LoginFailures;
  /** Which users exist and are enabled (authorization checks). */
  readonly users: UserDirectory;
  /** The whole-company user list, shared by the first syncs of allUsersSnapshotMs. */
  readonly allUsers: AllUsersSnapshot;
}
