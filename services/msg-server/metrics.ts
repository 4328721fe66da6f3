/**
 * The msg server's Prometheus metrics (served by its admin endpoint). Counts
 * come from the plain counters the msg server keeps anyway (context stats,
 * delivery stats, login results), read when scraped:
 *
 *   teamtalk_msg_server_client_connections{state}         open client connections: logged_in, not_logged_in
 *   teamtalk_msg_server_online_connections{client_type}   logged-in connections by client type
 *   teamtalk_msg_server_online_users                      distinct logged-in users
 *   teamtalk_msg_server_logins_total{result,client_type}  login answers (result "ok" or the refusal reason)
 *   teamtalk_msg_server_messages_total{result}            client messages: stored (acked), failed, flood_dropped
 *   teamtalk_msg_server_deliveries_total                  message deliveries pushed to clients (tracked for acks)
 *   teamtalk_msg_server_delivery_acks_total               deliveries acked by the client
 *   teamtalk_msg_server_delivery_resends_total            unacked deliveries sent again
 *   teamtalk_msg_server_delivery_misses_total             deliveries given up on (the message stays in storage)
 *   teamtalk_msg_server_commands_before_login_total       connections closed for a command before login
 *   teamtalk_msg_server_db_request_seconds{command}       db-proxy round trips; command="CID_MSG_DATA" is the store latency seen here
 *   teamtalk_msg_server_link_up{link,peer}                1 while a link to a login server, route server or db-proxy is up
 *   teamtalk_msg_server_link_connects_total{link,peer}    connections made by each link (reconnects show as increases)
 *   teamtalk_msg_server_draining                          1 while draining
 *   teamtalk_msg_server_pdus_*{link="client"|...}         PDUs by command and link; link="route-server" sent = relays
 */
import type { Histogram } from 'prom-client';
import { IM } from '../../pdu/commands';
import { ServiceMetrics, commandLabel, type Labels, type Samples } from '../../lib/metrics';
import { Phase, type ClientConn } from './client-session';
import type { MsgServerContext } from './context';

const { ClientType, ResultType } = IM.BaseDefine;

const CLIENT_TYPE_NAMES: Record<number, string> = {
  [ClientType.CLIENT_TYPE_WINDOWS]: 'windows',
  [ClientType.CLIENT_TYPE_MAC]: 'mac',
  [ClientType.CLIENT_TYPE_IOS]: 'ios',
  [ClientType.CLIENT_TYPE_ANDROID]: 'android',
};

export function clientTypeName(clientType: number): string {
  return CLIENT_TYPE_NAMES[clientType] ?? 'other';
}

/** "ok", or the refusal reason: REFUSE_REASON_DB_VALIDATE_FAILED -> "db_validate_failed". */
export function loginResultName(code: number): string {
  if (code === ResultType.REFUSE_REASON_NONE) return 'ok';
  const name = (ResultType as unknown as Record<number, string>)[code];
  return typeof name === 'string' ? name.replace(/^REFUSE_REASON_/, '').toLowerCase() : `code_${code}`;
}

export interface MsgServerGauges {
  /** Every open client connection (logged in or not). */
  connections(): Iterable<ClientConn>;
  draining(): boolean;
}

export class MsgServerMetrics {
  readonly metrics = new ServiceMetrics('msg-server');
  private readonly dbRequests: Histogram<'command'>;

  constructor() {
    this.dbRequests = this.metrics.histogram('db_request_seconds', 'db-proxy round trips by command; CID_MSG_DATA is the message-store latency as the msg server sees it', ['command']);
  }

  /** Registers the scrape-time readers of the msg server's state (once its context exists). */
  watch(ctx: MsgServerContext, gauges: MsgServerGauges): void {
    const m = this.metrics;
    const single = (value: () => number): (() => Samples) => () => [[{}, value()]];
    m.gaugeFrom('client_connections', 'open client connections, logged in or not yet', ['state'], () => {
      let loggedIn = 0;
      let other = 0;
      for (const conn of gauges.connections()) {
        if (conn.phase === Phase.Online) loggedIn++;
        else other++;
      }
      return [
        [{ state: 'logged_in' }, loggedIn],
        [{ state: 'not_logged_in' }, other],
      ];
    });
    m.gaugeFrom('online_connections', 'logged-in client connections by client type', ['client_type'], () => {
      const counts = new Map<string, number>(Object.values(CLIENT_TYPE_NAMES).map((n) => [n, 0]));
      for (const user of ctx.users.users()) {
        for (const c of user.connections) {
          const name = clientTypeName(c.clientType);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
      return [...counts].map(([client_type, n]) => [{ client_type }, n] as const);
    });
    m.gaugeFrom('online_users', 'distinct logged-in users', [], single(() => ctx.users.userCount));
    m.counterFrom('logins_total', 'login answers by result ("ok" or the refusal reason) and client type', ['result', 'client_type'], () =>
      [...ctx.loginResults].map(([key, n]) => {
        const [code, type] = key.split(':').map(Number);
        return [{ result: loginResultName(code), client_type: clientTypeName(type) }, n] as const;
      }),
    );
    m.counterFrom('messages_total', 'messages sent by clients: stored (and acked), failed (not stored, no ack), flood_dropped', ['result'], () => [
      [{ result: 'stored' }, ctx.stats.messagesStored],
      [{ result: 'failed' }, ctx.stats.messagesFailed],
      [{ result: 'flood_dropped' }, ctx.stats.floodDropped],
    ]);
    const deliveries = ctx.deliveries.stats;
    m.counterFrom('deliveries_total', 'single-chat messages pushed to a client device (each tracked until acked)', [], single(() => deliveries.delivered));
    m.counterFrom('delivery_acks_total', 'deliveries the client acked', [], single(() => deliveries.acked));
    m.counterFrom('delivery_resends_total', 'unacked deliveries sent again', [], single(() => deliveries.resent));
    m.counterFrom('delivery_misses_total', 'deliveries given up on after their resends (the message stays in storage)', [], single(() => deliveries.missed));
    m.counterFrom('commands_before_login_total', 'connections closed because they sent a command before logging in', [], single(() => ctx.stats.refusedBeforeLogin));
    const links = (): Array<{ link: string; peer: string; up: boolean; connects: number }> => [
      ...ctx.logins.states(),
      ...ctx.routes.states(),
      ...ctx.db.states(),
    ];
    m.gaugeFrom('link_up', '1 while the link to a login server, route server or db-proxy is up', ['link', 'peer'], () =>
      links().map((l) => [{ link: l.link, peer: l.peer } as Labels, l.up ? 1 : 0] as const),
    );
    m.counterFrom('link_connects_total', 'connections each server link has made (a rise after the first is a reconnect)', ['link', 'peer'], () =>
      links().map((l) => [{ link: l.link, peer: l.peer } as Labels, l.connects] as const),
    );
    m.gaugeFrom('draining', '1 while the msg server drains (takes no new clients, moves its clients off)', [], single(() => (gauges.draining() ? 1 : 0)));
  }

  dbRequestDone(commandId: number, seconds: number): void {
    this.dbRequests.observe({ command: commandLabel(commandId) }, seconds);
  }
}
