import { commandOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import { TTError } from '../../lib/errors';
import type { ImClient } from '../../tools/client/im-client';

/** Polls `condition` until it holds; fails with `what` after timeoutMs. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A negative check: resolves once `quietMs` pass without a push of `type`
 * (matching `predicate`) at `client`; throws with the push if one is in the
 * inbox already or arrives meanwhile. Call it after the event that makes the
 * push impossible has been observed, so the quiet period only guards the tail.
 */
export async function expectNoPush<T extends MessageClass>(
  client: ImClient,
  type: T,
  quietMs: number,
  predicate: (m: MessageOf<T>) => boolean = () => true,
): Promise<void> {
  const arrived = await client.next(type, predicate, quietMs).then(
    (m) => m,
    (err: unknown) => {
      if (err instanceof TTError && err.code === 'TT_ERR_WAIT_TIMEOUT') return null;
      throw err;
    },
  );
  if (arrived !== null) throw new Error(`unexpected ${commandOf(type).name} within ${quietMs} ms: ${JSON.stringify(arrived)}`);
}
