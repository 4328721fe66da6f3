/**
 * What MariaDB spent on a phase, per acknowledged message: CPU time of the
 * local mariadbd (when the bench runs it) and InnoDB's counters (pages read
 * from disk, rows and bytes written). These say whether a store's cost grows
 * with the history even when the shared machine makes wall-clock figures noisy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { runDir } from '../../lib/paths';
import { readPidFile } from '../infra/system';

const COUNTERS = ['Innodb_buffer_pool_reads', 'Innodb_buffer_pool_read_requests', 'Innodb_pages_written', 'Innodb_os_log_written', 'Innodb_data_fsyncs', 'Handler_write', 'Handler_update'];

export interface StorageCost {
  mariadb_cpu_ms_per_msg: number | null;
  /** Pages InnoDB had to read from disk (buffer pool misses). */
  disk_reads_per_msg: number;
  page_requests_per_msg: number;
  /** Pages flushed to the data files (deferred: checkpoints write them later). */
  pages_written_per_msg: number;
  redo_bytes_per_msg: number;
  fsyncs_per_msg: number;
  /** Rows inserted and updated (handler calls, all tables). */
  rows_written_per_msg: number;
  buffer_pool_mb: number;
}

export class StorageMeter {
  private constructor(
    private readonly adminUrl: string,
    private readonly pid: number | null,
    private readonly cpuAtStart: number | null,
    private readonly countersAtStart: Map<string, number>,
  ) {}

  /** `local`: the bench's own MariaDB under .run/ (its CPU time can be read). */
  static async start(adminUrl: string, local: boolean): Promise<StorageMeter> {
    const pid = local ? readPidFile(join(runDir, 'mariadb', 'mariadb.pid')) : null;
    return new StorageMeter(adminUrl, pid, cpuMs(pid), await counters(adminUrl));
  }

  async cost(messages: number): Promise<StorageCost> {
    const now = await counters(this.adminUrl);
    const cpu = cpuMs(this.pid);
    const per = (name: string) => round(((now.get(name) ?? 0) - (this.countersAtStart.get(name) ?? 0)) / Math.max(1, messages));
    return {
      mariadb_cpu_ms_per_msg: cpu !== null && this.cpuAtStart !== null ? round((cpu - this.cpuAtStart) / Math.max(1, messages)) : null,
      disk_reads_per_msg: per('Innodb_buffer_pool_reads'),
      page_requests_per_msg: per('Innodb_buffer_pool_read_requests'),
      pages_written_per_msg: per('Innodb_pages_written'),
      redo_bytes_per_msg: Math.round(per('Innodb_os_log_written')),
      fsyncs_per_msg: per('Innodb_data_fsyncs'),
      rows_written_per_msg: round(per('Handler_write') + per('Handler_update')),
      buffer_pool_mb: Math.round((now.get('innodb_buffer_pool_size') ?? 0) / 1048576),
    };
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;

function cpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    // Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks (100 per second).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

async function counters(adminUrl: string): Promise<Map<string, number>> {
  const conn = await mysql.createConnection({ ...parseMysqlUrl(adminUrl), database: undefined });
  try {
    const [status] = await conn.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS WHERE Variable_name IN (?)', [COUNTERS]);
    const [vars] = await conn.query<mysql.RowDataPacket[]>("SHOW GLOBAL VARIABLES LIKE 'innodb_buffer_pool_size'");
    const out = new Map<string, number>();
    for (const row of [...status, ...vars]) out.set(String(row.Variable_name), Number(row.Value));
    return out;
  } finally {
    await conn.end();
  }
}
