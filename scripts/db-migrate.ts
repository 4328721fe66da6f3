/** `npm run db:migrate`: applies schema/ to MYSQL_URL, or to the local MariaDB (started for the purpose). */
import { redactUrl } from '../lib/mysql-url';
import { provisionStorage } from './infra/provision';
import { migrate } from './db/migrate';

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[db:migrate] ${line}\n`);
  const storage = await provisionStorage({ database: process.env.TT_DB_NAME ?? 'teamtalk', log });
  try {
    const result = await migrate(storage.mysqlAdminUrl);
    log(`database ${result.database} at ${redactUrl(storage.mysqlAdminUrl)}`);
    log(result.applied.length > 0 ? `applied ${result.applied.join(', ')}` : 'schema already up to date');
  } finally {
    await storage.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`[db:migrate] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
