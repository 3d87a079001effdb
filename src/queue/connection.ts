// Where the queue is: a redis:// URL, checked once before any work so a wrong address is one clear line.
import { Redis } from 'ioredis';
import { TlError } from '../util/errors.js';

const USAGE = 'Give --queue (or TL_QUEUE) as redis://HOST:PORT, e.g. redis://127.0.0.1:6379.';

export interface RedisAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: object;
  /** null: a command waits through a reconnect (BullMQ requires it of its workers). */
  maxRetriesPerRequest: null;
}

/** Connection options for BullMQ and ioredis from --queue's URL. */
export function redisOptions(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TlError(`--queue ${url} is not a URL`, USAGE);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new TlError(`--queue ${url}: the queue is a Redis server (redis:// or rediss://), not ${u.protocol}`, USAGE);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new TlError(`--queue ${url}: "${u.pathname.slice(1)}" is not a database number`, USAGE);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** The URL without its password, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Connect once without retrying; a Redis that does not answer is a TlError naming the address and the cause. */
export async function probeRedis(url: string, timeoutMs = 5000): Promise<{ version: string }> {
  const client = new Redis({
    ...redisOptions(url),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let cause: NodeJS.ErrnoException | undefined;
  client.on('error', (err: NodeJS.ErrnoException) => (cause ??= err)); // the socket's reason (ECONNREFUSED...)
  try {
    await client.connect();
    const info = await client.info('server');
    return { version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown' };
  } catch (err) {
    const e = cause ?? (err as NodeJS.ErrnoException);
    throw new TlError(
      `cannot reach the queue at ${displayUrl(url)}: ${e.code ?? e.message}`,
      'Start Redis there (e.g. `redis-server --port 6379 --appendonly yes`) or fix --queue / TL_QUEUE; to embed on this machine instead, leave --queue out and unset TL_QUEUE.',
    );
  } finally {
    client.disconnect();
  }
}

/** A connection that only tells whether Redis answers now (it reconnects by itself): the coordinator's watchdog. */
export function healthConnection(url: string): Redis {
  const client = new Redis({ ...redisOptions(url), lazyConnect: false });
  client.on('error', () => {}); // the watchdog reads `status`
  return client;
}
