/** Which shard table holds a conversation's messages, and the clock the tables use. */
export class MessageTables {
  constructor(readonly count: number) {}

  /** IMMessage_<relationId % count>. */
  single(relationId: number): string {
    return `IMMessage_${relationId % this.count}`;
  }

  /** IMGroupMessage_<groupId % count>. */
  group(groupId: number): string {
    return `IMGroupMessage_${groupId % this.count}`;
  }

  /** Whether `name` is one of the message tables (names read back from Redis are checked before use in SQL). */
  isMessageTable(name: string): boolean {
    const m = /^IM(?:Group)?Message_(\d+)$/.exec(name);
    return m !== null && Number(m[1]) < this.count;
  }

  /** Every table the service reads or writes; they must all exist. */
  required(): string[] {
    const shards: string[] = [];
    for (let i = 0; i < this.count; i++) shards.push(`IMMessage_${i}`, `IMGroupMessage_${i}`);
    return [
      'IMUser',
      'IMDepart',
      'IMRelationShip',
      'IMRecentSession',
      'IMGroup',
      'IMGroupMember',
      'IMAudio',
      'IMTransmitFile',
      ...shards,
    ];
  }
}

/** Unix seconds, the unit of every created/updated column. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
