/**
 * A real `redis-server` (Debian's) for a test: a random loopback port, its own
 * temporary folder, stopped at the end. `restart()` stops it and starts it
 * again on the same port and folder (with `appendOnly`, the data survives).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Where `redis-server` is, or undefined (then the tests skip with a reason). */
export function redisServerPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function launch(bin: string, port: number, dir: string, appendOnly: boolean): Promise<ChildProcess> {
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', appendOnly ? 'yes' : 'no',
    '--appendfsync', 'always', '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(new Error(`redis-server on port ${port} did not answer within 20 s: ${log.slice(-400)}`)), 20_000);
    const done = (e?: Error) => {
      clearTimeout(t);
      clearInterval(poll);
      child.stdout!.resume();
      child.stderr!.resume();
      if (e) {
        child.kill('SIGKILL');
        reject(e);
      } else resolve(child);
    };
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.once('exit', (code) => done(new Error(`redis-server exited (${code}): ${log.slice(-400)}`)));
    // Ready when it answers PING.
    const poll = setInterval(() => {
      const s = net.connect(port, '127.0.0.1');
      s.once('error', () => s.destroy());
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        if (d.toString().startsWith('+PONG')) {
          child.removeAllListeners('exit');
          done();
        }
      });
    }, 100);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export async function startRedis(o: { appendOnly?: boolean } = {}): Promise<RedisServer> {
  const bin = redisServerPath();
  if (!bin) throw new Error('redis-server not found (apt-get install redis-server)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  for (let i = 0; !child; i++) {
    port = await freePort();
    try {
      child = await launch(bin, port, dir, o.appendOnly === true);
    } catch (e) {
      if (i >= 4) throw e; // the port was taken between probing and binding: try another
    }
  }
  let current = child;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async restart(downMs = 1000) {
      await stopChild(current);
      await new Promise((r) => setTimeout(r, downMs));
      current = await launch(bin, port, dir, o.appendOnly === true);
    },
    async stop() {
      await stopChild(current);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
