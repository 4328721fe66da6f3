/** The dispatch table: every command of wire.md's "db_proxy" row, one module per family. */
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import type { DbRequest } from '../db-request';
import { registerBuddyHandlers } from './buddy';
import { registerFileHandlers } from './file';
import { registerGroupHandlers } from './group';
import { registerLoginHandlers } from './login';
import { registerMessageHandlers } from './message';
import { registerPushHandlers } from './push';

export function registerHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  registerLoginHandlers(d, ctx);
  registerBuddyHandlers(d, ctx);
  registerMessageHandlers(d, ctx);
  registerGroupHandlers(d, ctx);
  registerFileHandlers(d, ctx);
  registerPushHandlers(d, ctx);
}
