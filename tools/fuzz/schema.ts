/**
 * The protocol as the fuzzer sees it: the project's .proto files loaded with
 * protobufjs reflection (pdu/proto/*.proto, the same files the static code is
 * generated from), joined to the command table (pdu/commands.ts), so every
 * command id has the reflected message type of its body.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { COMMANDS, type CommandInfo } from '../../pdu/commands';
import { projectRoot } from '../../lib/paths';

export interface CommandSchema {
  info: CommandInfo;
  /** The reflected body type, e.g. .IM.Message.IMMsgData. */
  type: protobuf.Type;
}

export interface Schema {
  readonly commands: readonly CommandSchema[];
  byId(commandId: number): CommandSchema | undefined;
}

export const PROTO_DIR = join(projectRoot, 'pdu', 'proto');

let loaded: Schema | null = null;

export function loadSchema(): Schema {
  if (loaded !== null) return loaded;
  const files = readdirSync(PROTO_DIR)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => join(PROTO_DIR, f));
  // Field names as written in the .proto files (user_id, not userId), like the generated code (--keep-case).
  const root = new protobuf.Root().loadSync(files, { keepCase: true });
  root.resolveAll();
  const commands = COMMANDS.map((info): CommandSchema => {
    // Static classes know their full name: "type.googleapis.com/IM.Login.IMLoginReq".
    const url = (info.type as unknown as { getTypeUrl(prefix?: string): string }).getTypeUrl('');
    return { info, type: root.lookupType(url.replace(/^\//, '')) };
  });
  const index = new Map(commands.map((c) => [c.info.commandId, c]));
  loaded = { commands, byId: (id) => index.get(id) };
  return loaded;
}
