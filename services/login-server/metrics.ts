/**
 * The login server's Prometheus metrics (served by its admin endpoint):
 *
 *   teamtalk_login_server_msg_servers{state}       registered msg servers: active, full, draining, closing
 *   teamtalk_login_server_users                    logged-in users the msg servers report, summed
 *   teamtalk_login_server_answers_total{result}    GET /msg_server answers: ok, no_msg_server, all_full
 *   teamtalk_login_server_pdus_*                   registration link traffic (lib/metrics.ts)
 */
import { ServiceMetrics } from '../../lib/metrics';
import { ResultCode } from './http/client-api';
import { msgServerState } from './http/admin-api';
import type { MsgServerEntry, MsgServerRegistry } from './msg-server-registry';

const RESULT_NAMES: Record<number, string> = {
  [ResultCode.OK]: 'ok',
  [ResultCode.NO_MSG_SERVER]: 'no_msg_server',
  [ResultCode.ALL_FULL]: 'all_full',
};

export class LoginServerMetrics {
  readonly metrics = new ServiceMetrics('login-server');
  private readonly answers = new Map<number, number>();

  constructor(registry: MsgServerRegistry, usable: (entry: MsgServerEntry) => boolean) {
    const m = this.metrics;
    m.gaugeFrom('msg_servers', 'registered msg servers by state (active, full, draining, closing)', ['state'], () => {
      const counts = new Map<string, number>([['active', 0], ['full', 0], ['draining', 0], ['closing', 0]]);
      for (const entry of registry.list()) {
        const state = msgServerState(entry, usable);
        counts.set(state, (counts.get(state) ?? 0) + 1);
      }
      return [...counts].map(([state, n]) => [{ state }, n] as const);
    });
    m.gaugeFrom('users', 'logged-in client connections the registered msg servers report, summed', [], () => [[{}, registry.totalUsers]]);
    const answers = this.answers;
    m.counterFrom('answers_total', 'answers to clients asking for a msg server (GET /msg_server), by result', ['result'], () =>
      [...answers].map(([code, n]) => [{ result: RESULT_NAMES[code] ?? String(code) }, n] as const),
    );
  }

  answered(code: number): void {
    this.answers.set(code, (this.answers.get(code) ?? 0) + 1);
  }
}
