/** `npm run db:seed`: demo departments and users (migrates first, so it works on an empty server). */
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../lib/mysql-url';
import { provisionStorage } from './infra/provision';
import { migrate } from './db/migrate';
import { seedDemo } from './db/seed';

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[db:seed] ${line}\n`);
  const storage = await provisionStorage({ database: process.env.TT_DB_NAME ?? 'teamtalk', log });
  try {
    await migrate(storage.mysqlAdminUrl);
    const pool = mysql.createPool(parseMysqlUrl(storage.mysqlUrl));
    try {
      const result = await seedDemo(pool);
      if (result.created.length > 0) log(`created users ${result.created.join(', ')}`);
      if (result.existing.length > 0) log(`already there: ${result.existing.join(', ')}`);
      process.stdout.write(
        `demo logins (password "${result.password}"): ${[...result.created, ...result.existing].join(', ')}\n`,
      );
    } finally {
      await pool.end();
    }
  } finally {
    await storage.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`[db:seed] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
