/** mysql://user:password@host:port/database → mysql2 connection options. */
export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseMysqlUrl(url: string): MysqlTarget {
  const u = new URL(url);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new Error(`not a mysql:// URL: ${redactUrl(url)}`);
  }
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
}

export function formatMysqlUrl(t: MysqlTarget): string {
  const auth = `${encodeURIComponent(t.user)}${t.password ? ':' + encodeURIComponent(t.password) : ''}`;
  return `mysql://${auth}@${t.host}:${t.port}/${encodeURIComponent(t.database)}`;
}

/** The same URL pointing at another database. */
export function withDatabase(url: string, database: string): string {
  return formatMysqlUrl({ ...parseMysqlUrl(url), database });
}

/** For logs: the password replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
