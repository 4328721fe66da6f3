import t from 'tap';
import { PendingRequests, type PendingRequest } from '../../pdu/pending-requests';
import { encodeFrame, readFrame, type Pdu } from '../../pdu/frame';
import { ConnectionClosedError, RequestTimeoutError } from '../../lib/errors';

function reply(commandId: number, seq: number): Pdu {
  const frame = encodeFrame(7, commandId, seq, Buffer.alloc(0));
  return readFrame(frame, 0, frame.length);
}

function request(expectCommandId: number, deadline: number) {
  const outcome: { pdu: Pdu | null; error: Error | null } = { pdu: null, error: null };
  const r: PendingRequest = {
    expectCommandId,
    deadline,
    what: 'TEST_REQ',
    resolve: (pdu) => (outcome.pdu = pdu),
    reject: (err) => (outcome.error = err),
  };
  return { r, outcome };
}

t.test('a reply with the seq and the expected command settles its request; others are not taken', async (t) => {
  const requests = new PendingRequests();
  const a = request(0x0402, 100);
  const seq = requests.add(a.r);
  t.equal(seq, 1);
  t.notOk(requests.settle(reply(0x0402, 0)), 'seq 0 is a push, never a reply');
  t.notOk(requests.settle(reply(0x0403, seq)), 'same seq, another command: not the reply');
  t.equal(a.outcome.pdu, null);
  t.ok(requests.settle(reply(0x0402, seq)));
  t.equal(a.outcome.pdu?.seqNum, seq);
  t.equal(requests.size, 0);
  t.notOk(requests.settle(reply(0x0402, seq)), 'a second reply is not taken');
});

t.test('timed-out seq numbers stay held until their late reply, which is dropped', async (t) => {
  const requests = new PendingRequests();
  const early = request(1, 100);
  const later = request(1, 200);
  const s1 = requests.add(early.r);
  const s2 = requests.add(later.r);
  requests.expire(150, 50);
  t.type(early.outcome.error, RequestTimeoutError);
  t.equal(later.outcome.error, null, 'not yet due');
  t.equal(requests.expiredCount, 1);
  t.equal(requests.size, 1);
  t.ok(requests.settle(reply(1, s1)), 'the late reply is taken (and dropped)');
  t.equal(requests.lateReplies, 1);
  t.equal(requests.expiredCount, 0);
  t.equal(early.outcome.pdu, null, 'nobody is resolved with it');
  t.equal(s2, s1 + 1);
});

t.test('seq numbers wrap past 0xffff, skipping 0 and every one in use or held', async (t) => {
  const requests = new PendingRequests();
  const seqs: number[] = [];
  for (let i = 0; i < 0xffff; i++) seqs.push(requests.add(request(1, 0).r));
  t.equal(new Set(seqs).size, 0xffff, 'all 65535 non-zero seq numbers handed out once');
  t.notOk(seqs.includes(0));
  requests.expire(1, 10);
  t.equal(requests.expiredCount, 0xffff);
  t.ok(requests.settle(reply(1, 7)));
  t.equal(requests.add(request(1, 0).r), 7, 'the only free one');
});

t.test('rejectAll fails every waiting request with the close reason', async (t) => {
  const requests = new PendingRequests();
  const a = request(1, 100);
  const b = request(2, 100);
  requests.add(a.r);
  requests.add(b.r);
  requests.rejectAll('peer closed the connection');
  t.type(a.outcome.error, ConnectionClosedError);
  t.match(b.outcome.error?.message, /peer closed the connection/);
  t.equal(requests.size, 0);
});
