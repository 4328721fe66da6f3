/**
 * Backpressure tests: a server-side connection sends to a peer that stopped
 * reading, until the connection's write-queue limit drops the peer.
 */
import { IM } from '../../pdu/commands';
import type { PduConnection } from '../../pdu/connection';

/** Sends 16 KiB messages (yielding to I/O every 16) while the connection is open, 10,000 at most; returns how many were sent. */
export async function sendUntilDropped(conn: Pick<PduConnection, 'isOpen' | 'send'>): Promise<number> {
  const body = Buffer.alloc(16 * 1024, 0x61);
  let sent = 0;
  for (let i = 0; i < 10_000 && conn.isOpen; i++) {
    conn.send(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: i, create_time: 0, msg_type: 1, msg_data: body });
    sent++;
    if (i % 16 === 15) await new Promise((r) => setImmediate(r));
  }
  return sent;
}
