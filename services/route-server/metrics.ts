/**
 * The route server's Prometheus metrics (served by its admin endpoint):
 *
 *   teamtalk_route_server_msg_server_links          connected msg servers
 *   teamtalk_route_server_online_users              users online anywhere (the global map)
 *   teamtalk_route_server_relays_total{command}     PDUs received for relaying to other msg servers
 *   teamtalk_route_server_pdus_*                    msg-server link traffic by command (lib/metrics.ts)
 */
import { ServiceMetrics, commandLabel } from '../../lib/metrics';
import { RELAYED_TO_ALL, RELAYED_TO_OTHERS } from './handlers/relay';
import type { MsgServerLinks } from './msg-server-links';
import type { OnlineUserMap } from './online-user-map';

const RELAYED = new Set<number>([...RELAYED_TO_OTHERS, ...RELAYED_TO_ALL]);

export function routeServerMetrics(users: OnlineUserMap, links: MsgServerLinks): ServiceMetrics {
  const m = new ServiceMetrics('route-server');
  const traffic = m.traffic('msg-server');
  m.gaugeFrom('msg_server_links', 'connected msg servers', [], () => [[{}, links.size]]);
  m.gaugeFrom('online_users', 'users online on any msg server (the global online map)', [], () => [[{}, users.size]]);
  m.counterFrom('relays_total', 'PDUs received from a msg server to be relayed to the others, by command', ['command'], () =>
    [...traffic.received].filter(([id]) => RELAYED.has(id)).map(([id, n]) => [{ command: commandLabel(id) }, n] as const),
  );
  return m;
}
