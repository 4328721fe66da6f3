/**
 * How every service's TCP, HTTP(S) and WebSocket ports start listening: on one
 * address and port (0 picks a free one), exclusively (a cluster worker does not
 * share it), failing with the listen error (EADDRINUSE, EADDRNOTAVAIL...).
 */
import type { AddressInfo, Server } from 'node:net';

/** Listens on host:port; resolves with the address bound. */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
