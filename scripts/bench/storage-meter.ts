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
  /**
   * CPU time per acknowledged message of every local process of the cluster
   * (the bench's own load generator included), and how many of the machine's
   * cores they kept busy together: says which process a latency comes from
   * when the machine is saturated.
   */
  cpu_ms_per_msg_by_process: Record<string, number>;
  cores_busy: number;
}

export class StorageMeter {
  private constructor(
    private readonly adminUrl: string,
    private readonly pid: number | null,
    private readonly cpuAtStart: number | null,
    private readonly countersAtStart: Map<string, number>,
    private readonly processes: Map<string, { pid: number; cpuAtStart: number }>,
    private readonly startedAt: number,
  ) {}

  /**
   * `local`: the bench's own MariaDB and Redis under .run/ (their CPU time can be
   * read); `pids`: the cluster's processes by name (Supervisor.pids()).
   */
  static async start(adminUrl: string, local: boolean, pids: Record<string, number | undefined> = {}): Promise<StorageMeter> {
    const pid = local ? readPidFile(join(runDir, 'mariadb', 'mariadb.pid')) : null;
    const named: Record<string, number | null | undefined> = {
      bench: process.pid,
      mariadb: pid,
      redis: local ? readPidFile(join(runDir, 'redis', 'redis.pid')) : null,
      ...pids,
    };
    const processes = new Map<string, { pid: number; cpuAtStart: number }>();
    for (const [name, p] of Object.entries(named)) {
      const cpu = p ? cpuMs(p) : null;
      if (p && cpu !== null) processes.set(name, { pid: p, cpuAtStart: cpu });
    }
    return new StorageMeter(adminUrl, pid, cpuMs(pid), await counters(adminUrl), processes, Date.now());
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
      ...this.cpuByProcess(messages),
    };
  }

  private cpuByProcess(messages: number): Pick<StorageCost, 'cpu_ms_per_msg_by_process' | 'cores_busy'> {
    const byProcess: Record<string, number> = {};
    let total = 0;
    for (const [name, { pid, cpuAtStart }] of this.processes) {
      const cpu = cpuMs(pid);
      if (cpu === null) continue; // exited (restarted under another pid) during the phase
      total += cpu - cpuAtStart;
      byProcess[name] = round((cpu - cpuAtStart) / Math.max(1, messages));
    }
    return { cpu_ms_per_msg_by_process: byProcess, cores_busy: round(total / Math.max(1, Date.now() - this.startedAt)) };
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
