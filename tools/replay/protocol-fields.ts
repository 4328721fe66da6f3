/**
 * Which fields of a message are protocol rather than data, for `--compare
 * protocol`: every `result_code`, and every field whose type is an enum
 * (session and message types, client types, status enums...). They are found
 * by reading the .proto files the wire code is generated from (the generated
 * static classes carry no field types).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Enum, Root, Type } from 'protobufjs';
import { commandById } from '../../pdu/commands';
import { projectRoot } from '../../lib/paths';

/** Compared by value in protocol mode whatever their type. */
const ALWAYS_VALUES: ReadonlySet<string> = new Set(['result_code']);

let schema: Root | null = null;

function loadSchema(): Root {
  if (schema === null) {
    const dir = join(projectRoot, 'pdu', 'proto');
    const root = new Root();
    root.loadSync(
      readdirSync(dir)
        .filter((f) => f.endsWith('.proto'))
        .map((f) => join(dir, f)),
      { keepCase: true },
    );
    root.resolveAll();
    schema = root;
  }
  return schema;
}

/** Dotted paths (field names from the top, no array positions) of the protocol values of `type`. */
function protocolPaths(type: Type, prefix: string[], out: Set<string>, depth = 0): void {
  if (depth > 8) return;
  for (const field of type.fieldsArray) {
    const path = [...prefix, field.name];
    if (ALWAYS_VALUES.has(field.name) || field.resolvedType instanceof Enum) out.add(path.join('.'));
    else if (field.resolvedType instanceof Type) protocolPaths(field.resolvedType, path, out, depth + 1);
  }
}

const byCommand = new Map<number, ReadonlySet<string>>();

/** The protocol-value paths of a command's body ("result_code", "unreadinfo_list.session_type", ...). */
export function protocolValuePaths(commandId: number): ReadonlySet<string> {
  let paths = byCommand.get(commandId);
  if (paths === undefined) {
    const out = new Set<string>();
    const info = commandById(commandId);
    const url = (info?.type as { getTypeUrl?: (prefix: string) => string } | undefined)?.getTypeUrl?.('');
    if (url) protocolPaths(loadSchema().lookupType(url.replace(/^\//, '')), [], out);
    paths = out;
    byCommand.set(commandId, paths);
  }
  return paths;
}

/**
 * For diffValues: the header is protocol throughout; body paths are protocol
 * values when the schema says so.
 */
export function protocolValueTest(commandId: number): (names: readonly string[]) => boolean {
  const paths = protocolValuePaths(commandId);
  return (names) => names[0] === 'header' || paths.has(names.join('.'));
}
