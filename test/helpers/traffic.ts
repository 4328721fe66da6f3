/**
 * Steady chat traffic for fault tests: each sender sends one message at a time
 * to its receiver (or group) and records what was acknowledged with which msg
 * id; afterwards `verify` checks what must hold whatever failed meanwhile: every
 * acked message is stored under its msg id, no msg id of a conversation was
 * given to two acked messages, and receivers got what was acked.
 */
import type { Test } from 'tap';
import { IM } from '../../pdu/commands';
import type { ImClient } from '../../tools/client/im-client';
import { waitFor } from './wait';

const { MsgType } = IM.BaseDefine;

export interface Conversation {
  sender: ImClient;
  /** A user (single) or a group id. */
  to: number;
  group?: boolean;
  /** Clients that must receive every acked message (single: the receiver). */
  receivers: ImClient[];
}

export interface Acked {
  text: string;
  msgId: number;
}

export class Traffic {
  readonly acked: Acked[][];
  failed = 0;
  private running = true;
  private readonly loops: Array<Promise<void>>;

  constructor(
    readonly conversations: Conversation[],
    tag: string,
    pauseMs = 5,
  ) {
    this.acked = conversations.map(() => []);
    this.loops = conversations.map(async (c, i) => {
      for (let n = 0; this.running; n++) {
        const text = `${tag}:${i}:${n}`;
        try {
          const ack = await c.sender.sendMessage(c.to, Buffer.from(text, 'latin1'), c.group ? MsgType.MSG_TYPE_GROUP_TEXT : MsgType.MSG_TYPE_SINGLE_TEXT);
          this.acked[i].push({ text, msgId: ack.msg_id });
        } catch {
          this.failed++;
        }
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
  }

  get ackedCount(): number {
    return this.acked.reduce((n, list) => n + list.length, 0);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * The guarantees, per conversation: acked msg ids distinct; each acked message
   * stored with its text under its msg id (`stored` reads the conversation's
   * rows: msgId -> content); each receiver got each acked text.
   */
  async verify(t: Test, stored: (c: Conversation, index: number) => Promise<Map<number, string>>): Promise<void> {
    for (const [i, c] of this.conversations.entries()) {
      const acked = this.acked[i];
      const ids = acked.map((a) => a.msgId);
      t.equal(new Set(ids).size, ids.length, `conversation ${i}: no msg id was given to two acknowledged messages (${ids.length} acked)`);
      const rows = await stored(c, i);
      const missing = acked.filter((a) => rows.get(a.msgId) !== a.text);
      t.same(missing, [], `conversation ${i}: every acknowledged message is stored under its msg id`);
      for (const receiver of c.receivers) {
        const texts = () => new Set(receiver.received(IM.Message.IMMsgData).map((m) => Buffer.from(m.msg_data).toString('latin1')));
        await waitFor(() => acked.every((a) => texts().has(a.text)), 20_000, `conversation ${i}: receiver ${receiver.userId} gets every acked message`).catch(() => undefined);
        const got = texts();
        t.same(acked.filter((a) => !got.has(a.text)).map((a) => a.text), [], `conversation ${i}: receiver ${receiver.userId} got every acknowledged message`);
      }
    }
  }
}
