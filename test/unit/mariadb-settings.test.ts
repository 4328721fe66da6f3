/** The local MariaDB's InnoDB settings (scripts/infra/mariadb.ts): sized from the machine, overridable, never less durable. */
import t from 'tap';
import { innodbSettings, mariadbMemory, parseByteSize } from '../../scripts/infra/mariadb';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

t.test('buffer pool: 40 % of the memory in 128 MB steps, at least 256 MB; redo log a quarter, 256 MB to 2 GB', async (t) => {
  t.same(mariadbMemory({}, 24 * GiB), { bufferPoolBytes: 9728 * MiB, logFileBytes: 2 * GiB });
  t.same(mariadbMemory({}, 4 * GiB), { bufferPoolBytes: 1536 * MiB, logFileBytes: 384 * MiB });
  t.same(mariadbMemory({}, 512 * MiB), { bufferPoolBytes: 256 * MiB, logFileBytes: 256 * MiB }, 'a small machine still gets the minimum');
});

t.test('TT_LOCAL_MYSQL_BUFFER_POOL and TT_LOCAL_MYSQL_LOG_FILE_SIZE override, and bad values are named', async (t) => {
  t.same(mariadbMemory({ TT_LOCAL_MYSQL_BUFFER_POOL: '8G' }, 24 * GiB), { bufferPoolBytes: 8 * GiB, logFileBytes: 2 * GiB });
  t.same(mariadbMemory({ TT_LOCAL_MYSQL_BUFFER_POOL: '1024M', TT_LOCAL_MYSQL_LOG_FILE_SIZE: '64M' }, 24 * GiB), { bufferPoolBytes: GiB, logFileBytes: 64 * MiB });
  t.equal(parseByteSize('1073741824', 'X'), GiB);
  t.equal(parseByteSize('512k', 'X'), 512 * 1024);
  t.throws(() => mariadbMemory({ TT_LOCAL_MYSQL_BUFFER_POOL: 'lots' }), /TT_LOCAL_MYSQL_BUFFER_POOL must be a size like 512M or 8G, got "lots"/);
  t.throws(() => mariadbMemory({ TT_LOCAL_MYSQL_BUFFER_POOL: '64M' }), /at least 128M/);
  t.throws(() => mariadbMemory({ TT_LOCAL_MYSQL_LOG_FILE_SIZE: '1M' }), /TT_LOCAL_MYSQL_LOG_FILE_SIZE must be at least 32M/);
});

t.test('the settings keep every commit durable', async (t) => {
  const args = innodbSettings({ bufferPoolBytes: GiB, logFileBytes: 256 * MiB });
  t.ok(args.includes(`--innodb-buffer-pool-size=${GiB}`));
  t.ok(args.includes(`--innodb-log-file-size=${256 * MiB}`));
  t.ok(args.includes('--innodb-flush-log-at-trx-commit=1'), 'fsync at every COMMIT');
  t.ok(args.includes('--innodb-doublewrite=ON'), 'torn pages repaired');
  t.ok(args.includes('--innodb-flush-method=O_DIRECT'));
  t.ok(args.includes('--innodb-buffer-pool-dump-pct=100'), 'a restart reloads the whole buffer pool');
  t.notOk(args.some((a) => /sync-binlog=0|flush-log-at-trx-commit=[02]|doublewrite=OFF/i.test(a)), 'nothing traded for speed');
});
