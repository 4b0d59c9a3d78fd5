/**
 * `--queue redis://[[user]:password@]HOST:PORT[/DB]` (or `rediss://` for TLS)
 * → ioredis connection options for BullMQ.
 *
 * The port is required (a fleet's Redis is rarely on the default by accident,
 * and a typo should not silently reach another server); DB defaults to 0.
 * `maxRetriesPerRequest: null` is what BullMQ workers need: a command waits
 * for Redis to come back instead of failing, so a restarted Redis only pauses
 * a run.
 */
import type { RedisOptions } from 'bullmq';

export interface RedisTarget {
  /** Connection options for ioredis / BullMQ. */
  readonly options: RedisOptions;
  /** The URL with any password replaced by `***`, for messages. */
  readonly display: string;
}

/** Parse a `--queue` URL; a TypeError says what was expected and what arrived. */
export function parseRedisUrl(s: string, flag = '--queue'): RedisTarget {
  const want = `expected redis://[:password@]HOST:PORT[/DB] or rediss://…`;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new TypeError(`${flag}: ${want}, got '${s}'`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new TypeError(`${flag}: ${want}, got the scheme '${u.protocol}' in '${s}'`);
  if (!u.hostname) throw new TypeError(`${flag}: ${want}, got no host in '${s}'`);
  if (!u.port) throw new TypeError(`${flag}: ${want}, got no port in '${s}' (Redis's default is 6379)`);
  const port = Number(u.port);
  const dbPath = u.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(dbPath) || Number(dbPath) > 1_000_000) throw new TypeError(`${flag}: expected a database number after the port (/0, /1, …), got '/${dbPath}' in '${s}'`);
  if (u.search || u.hash) throw new TypeError(`${flag}: ${want}, got query or fragment '${u.search}${u.hash}' in '${s}'`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const options: RedisOptions = {
    host, port, db: dbPath ? Number(dbPath) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: host } } : {}),
    maxRetriesPerRequest: null,
    // Reconnect for ever, backing off to 2 s: Redis restarting is a pause, not the end of a run.
    retryStrategy: (times: number) => Math.min(2000, 50 * times),
  };
  const display = `${u.protocol}//${u.password ? `${u.username}:***@` : u.username ? `${u.username}@` : ''}${u.host}${dbPath ? `/${dbPath}` : ''}`;
  return { options, display };
}
