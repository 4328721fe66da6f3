/**
 * Starts a route server in the test process on a free port, and fake msg
 * servers connected to it, all over real loopback TCP.
 */
import type { Test } from 'tap';
import { silentLogger, type Logger } from '../../lib/log';
import { routeServerConfig, type RouteServerConfig } from '../../services/route-server/config';
import { startRouteServer, type RunningRouteServer } from '../../services/route-server/route-server';
import { tlsSettings } from '../helpers/tls';
import { FakeMsgServer, type FakeMsgServerOptions } from './fake-msg-server';

export async function startRoute(
  t: Test,
  overrides: Partial<RouteServerConfig> = {},
  logger: Logger = silentLogger(),
): Promise<RunningRouteServer> {
  const route = await startRouteServer(routeServerConfig.load({ env: {}, overrides: { listenPort: 0, adminPort: 0, ...tlsSettings('route-server'), ...overrides } }), logger);
  t.teardown(() => route.stop('test over'));
  return route;
}

/** `count` fake msg servers connected to `route`, named A, B, C... Resolves once the route server has them all. */
export async function connectFakes(
  t: Test,
  route: RunningRouteServer,
  count: number,
  options: FakeMsgServerOptions = {},
): Promise<FakeMsgServer[]> {
  const fakes: FakeMsgServer[] = [];
  for (let i = 0; i < count; i++) {
    fakes.push(await FakeMsgServer.start(t, route.port, { name: `msg ${String.fromCharCode(65 + i)}`, ...options }));
  }
  // The route server has accepted a link once it answers on it.
  for (const fake of fakes) await fake.usersStatus([]);
  return fakes;
}

/**
 * Waits until everything the route server sent because of what `origin` sent
 * so far has reached every fake: a round trip on the origin first (its earlier
 * PDUs are processed by then), then one on each fake (their replies are queued
 * after anything sent to them before).
 */
export async function settle(origin: FakeMsgServer, fakes: FakeMsgServer[]): Promise<void> {
  await origin.usersStatus([]);
  await Promise.all(fakes.map((f) => f.usersStatus([])));
}
