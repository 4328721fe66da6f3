/**
 * The fuzzer's PDU generator, as pure logic: bodies come from the .proto
 * schema and decode with the project's own (generated) classes, huge bodies
 * reach their budget, lying lengths really lie, mutations change bytes, and a
 * seed always gives the same PDUs.
 */
import t from 'tap';
import { CID } from '../../pdu/commands';
import { HEADER_LENGTH } from '../../pdu/frame';
import { encodeMessage, generateHugeBody, generateMessage, type Dictionary } from '../../tools/fuzz/generate';
import { MUTATIONS, scanFields } from '../../tools/fuzz/mutate';
import { PduFactory } from '../../tools/fuzz/pdus';
import { Random } from '../../tools/fuzz/random';
import { loadSchema } from '../../tools/fuzz/schema';
import { TARGETS, targetProfile } from '../../tools/fuzz/targets';

const dict: Dictionary = { userIds: [11, 12, 13], groupIds: [5], userNames: ['fuzz_peer_0'] };
const schema = loadSchema();

t.test('every command of the table has its reflected type, and generated bodies decode with the generated classes', async (t) => {
  t.ok(schema.commands.length > 90, `${schema.commands.length} commands`);
  for (const c of schema.commands) {
    t.equal(c.type.fullName.replace(/^\./, ''), (c.info.type as unknown as { getTypeUrl(p: string): string }).getTypeUrl('').slice(1), c.info.name);
    const rng = new Random(c.info.commandId);
    for (let i = 0; i < 20; i++) {
      const body = encodeMessage(c.type, generateMessage(c.type, rng, dict));
      c.info.type.decode(body);
    }
  }
});

t.test('a huge body reaches its budget and still decodes', async (t) => {
  for (const cid of [CID.BUDDY_LIST_USERS_STATUS_REQUEST, CID.OTHER_ONLINE_USER_INFO, CID.MSG_DATA, CID.LOGIN_REQ_USERLOGIN]) {
    const c = schema.byId(cid)!;
    const body = generateHugeBody(c.type, new Random(cid), dict, 1_000_000);
    t.ok(body.length > 900_000 && body.length < 1_100_000, `${c.info.name}: ${body.length} bytes`);
    c.info.type.decode(body);
  }
});

t.test('lengths that must end a connection do', async (t) => {
  for (const target of TARGETS) {
    const profile = targetProfile(target);
    const factory = new PduFactory(schema, profile, dict);
    const rng = new Random(7);
    for (let i = 0; i < 200; i++) {
      const pdu = factory.badLength(rng);
      t.equal(pdu.terminal, true);
      const length = pdu.frame.readUInt32BE(0);
      const lies = length < HEADER_LENGTH || length > profile.maxPduBytes || length !== pdu.frame.length;
      if (!lies) t.fail(`${target}: ${pdu.kind} length ${length} is the true length`);
    }
  }
});

t.test('mutations change the body; the field scanner finds the fields of a valid body', async (t) => {
  const c = schema.byId(CID.MSG_DATA)!;
  const rng = new Random(3);
  const body = encodeMessage(c.type, { from_user_id: 1, to_session_id: 2, msg_id: 3, create_time: 4, msg_type: 1, msg_data: Buffer.from('hi') });
  t.same(
    scanFields(body).map((f) => [f.fieldNumber, f.wireType]),
    [
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
      [5, 0],
      [6, 2],
    ],
  );
  for (const [name, mutate] of MUTATIONS) {
    let changed = false;
    for (let i = 0; i < 20 && !changed; i++) changed = !mutate(body, rng, Buffer.from('other body')).equals(body);
    t.ok(changed, `${name} changes the bytes`);
  }
});

t.test('a seed gives the same PDUs, another seed other ones', async (t) => {
  const stream = (seed: number) => {
    const factory = new PduFactory(schema, targetProfile('msg-server'), dict);
    const rng = Random.derive(seed, 3);
    return Buffer.concat(Array.from({ length: 300 }, () => factory.next(rng).frame));
  };
  t.ok(stream(42).equals(stream(42)), 'same seed, same bytes');
  t.notOk(stream(42).equals(stream(43)), 'another seed, other bytes');
});
