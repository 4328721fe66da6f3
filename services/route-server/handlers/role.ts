/**
 * CID_OTHER_ROLE_SET: a msg server tells this route server it is (or is no
 * longer) the one it sends relayed traffic to. Recorded for operators and
 * logs; routing does not depend on it (neither did the original's).
 */
import { IM } from '../../../pdu/commands';
import type { RouteDispatcher, RouteState } from './context';

export function registerRoleHandlers(dispatcher: RouteDispatcher, { logger }: RouteState): void {
  dispatcher.on(IM.Server.IMRoleSet, (message, _pdu, link) => {
    const state = link.context;
    if (state === undefined) return;
    state.master = message.master === 1;
    logger.info({ conn: link.id, peer: link.remoteAddress, master: state.master }, 'msg server role set');
  });
}
