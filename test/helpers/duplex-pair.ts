/**
 * Two connected in-memory streams: what one writes, the other reads. Unit tests
 * run the connection layer and whole handlers over these (PduServer.handle),
 * with no ports and no storage.
 */
import { Duplex } from 'node:stream';

export function duplexPair(): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        peer().push(chunk);
        done();
      },
      final(done) {
        peer().push(null);
        done();
      },
      destroy(err, done) {
        peer().destroy();
        done(err);
      },
    });
  const a: Duplex = make(() => b);
  const b: Duplex = make(() => a);
  return [a, b];
}

/**
 * In-memory streams hold no handle open, and the connection layer's timers are
 * unref'd: a test that waits on a timeout over a duplex pair keeps the event
 * loop alive with this until it ends.
 */
export function holdOpen(t: { teardown(fn: () => void): void }): void {
  const timer = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(timer));
}
