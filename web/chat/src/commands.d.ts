/**
 * commands.js is written by the build (scripts/build.mjs) from the servers'
 * command table, pdu/commands.ts: which command id each message type travels under.
 */
export interface CommandEntry {
  serviceId: number;
  commandId: number;
  /** Wire name, e.g. CID_MSG_DATA. */
  name: string;
  /** Fully qualified message type, e.g. IM.Message.IMMsgData. */
  type: string;
}

export declare const COMMANDS: CommandEntry[];
