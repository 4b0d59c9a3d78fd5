/**
 * CURVE authentication and encryption for segflow's ZeroMQ sockets
 * (`--curve-keys FILE`, the `curveKeys` option of zmq-sink/zmq-source;
 * docs/security-zmq.md).
 *
 * A key file is JSON, readable by its owner only (mode 0600; a group- or
 * world-readable file is refused, as ssh does):
 *
 * - **server** (the side that binds: `process/run --dispatch`, a zmq-sink or
 *   zmq-source with `bind: true`): `{"publicKey", "secretKey",
 *   "allowedClients": [client public keys]}`. Only clients whose public key is
 *   listed complete the handshake (checked by a ZAP handler in this process);
 *   everyone else gets nothing — not even an error.
 * - **client** (the side that connects: `segflow worker`, `segflow workers`,
 *   a node with `bind: false`): `{"publicKey", "secretKey", "serverKey"}` —
 *   it talks only to the server holding `serverKey`'s secret.
 *
 * Keys are Z85 text, 40 characters (zmq_curve_keypair). Make them with
 * `segflow keys init DIR [--clients N]` (DIR/server.json and
 * DIR/client-1.json …) and add one with `segflow keys
 * add-client DIR/server.json OUT.json`.
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as zmq from 'zeromq';
import { z } from 'zod';
import { GraphError, UsageError } from '../../core/errors.ts';

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const key = z.string().regex(/^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/, 'expected a 40-character Z85 CURVE key');

const serverFile = z.strictObject({ publicKey: key, secretKey: key, allowedClients: z.array(key).min(1, 'expected at least one client public key') });
const clientFile = z.strictObject({ publicKey: key, secretKey: key, serverKey: key });

export interface CurveServerKeys {
  readonly role: 'server';
  readonly file: string;
  readonly publicKey: string;
  readonly secretKey: string;
  readonly allowedClients: readonly string[];
}
export interface CurveClientKeys {
  readonly role: 'client';
  readonly file: string;
  readonly publicKey: string;
  readonly secretKey: string;
  readonly serverKey: string;
}
export type CurveKeys = CurveServerKeys | CurveClientKeys;

/** True when this zeromq build has CURVE (libsodium/tweetnacl). */
export function curveAvailable(): boolean {
  return Boolean(zmq.capability.curve);
}

/** Read a key file for `role`; throws UsageError saying what is wrong with it. */
export function loadCurveKeys(file: string, role: 'server', flag?: string): CurveServerKeys;
export function loadCurveKeys(file: string, role: 'client', flag?: string): CurveClientKeys;
export function loadCurveKeys(file: string, role: 'server' | 'client', flag = '--curve-keys'): CurveKeys {
  if (!curveAvailable()) throw new UsageError(`${flag}: this zeromq build has no CURVE support (zmq.capability.curve is false)`);
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: cannot read it (${(e as Error).message})`);
  }
  if (!st.isFile()) throw new UsageError(`${flag} ${file}: expected a key file, got a ${st.isDirectory() ? 'folder' : 'special file'}`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new UsageError(`${flag} ${file}: holds a secret key but is readable by others (mode ${(st.mode & 0o777).toString(8)}); expected mode 600 (chmod 600 ${file})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${flag} ${file}: expected JSON, got ${(e as Error).message}`);
  }
  const schema = role === 'server' ? serverFile : clientFile;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const want = role === 'server' ? '{"publicKey","secretKey","allowedClients":[...]} (the binding side)' : '{"publicKey","secretKey","serverKey"} (the connecting side)';
    throw new UsageError(`${flag} ${file}: expected a ${role} key file ${want}; ${i.path.join('.') || 'file'}: ${i.message}`);
  }
  return { role, file, ...parsed.data } as CurveKeys;
}

/** The `--curve-keys FILE` flag's keys (undefined without the flag); `applies`: false when the command has no socket for them. */
export function curveKeysFlag(file: unknown, role: 'server', applies?: boolean): CurveServerKeys | undefined;
export function curveKeysFlag(file: unknown, role: 'client', applies?: boolean): CurveClientKeys | undefined;
export function curveKeysFlag(file: unknown, role: 'server' | 'client', applies = true): CurveKeys | undefined {
  if (typeof file !== 'string') return undefined;
  if (!applies) throw new UsageError('--curve-keys goes with --dispatch tcp://HOST:PORT');
  return role === 'server' ? loadCurveKeys(file, 'server') : loadCurveKeys(file, 'client');
}

/** Z85 text → 32 binary bytes (ZeroMQ RFC 32). */
export function z85Decode(s: string): Buffer {
  if (s.length % 5 !== 0) throw new TypeError(`z85: expected a multiple of 5 characters, got ${s.length}`);
  const out = Buffer.alloc((s.length / 5) * 4);
  for (let i = 0, o = 0; i < s.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85.indexOf(s[i + j]!);
      if (d < 0) throw new TypeError(`z85: unexpected character '${s[i + j]}'`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new TypeError('z85: value out of range');
    out.writeUInt32BE(v, o);
  }
  return out;
}

// ---- ZAP handler: one per process (one inproc endpoint per ZeroMQ context), serving every CURVE server socket ----

const domains = new Map<string, Set<string>>();
let zap: zmq.Reply | undefined;
let zapBound: Promise<void> | undefined;
let domainSeq = 0;
/** Handshakes refused (client key not allowed), for tests and logs. */
export const zapStats = { allowed: 0, denied: 0 };

async function serveZap(sock: zmq.Reply): Promise<void> {
  try {
    for await (const [version, requestId, domain, , , mechanism, credential] of sock) {
      const allowed = domains.get(domain?.toString() ?? '');
      const ok = mechanism?.toString() === 'CURVE' && credential?.length === 32 && allowed !== undefined && allowed.has(credential.toString('hex'));
      if (ok) zapStats.allowed++;
      else zapStats.denied++;
      await sock.send([version ?? '1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : 'client key not allowed', '', '']);
    }
  } catch {
    // closed
  }
}

/** ZeroMQ's ZAP endpoint (RFC 27): libzmq asks whoever is bound there about each handshake. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';
/** Attempts, 10 ms apart, to bind the endpoint while a handler closed a moment ago still holds it. */
const ZAP_BIND_TRIES = 300;

/**
 * Bind the ZAP endpoint. A handler closed when the last CURVE socket went (below) leaves the endpoint
 * bound until libzmq has finished closing it, after close() returned — longer when it served
 * handshakes — so a CURVE server made right after (a graph re-opened, a dispatcher restarted, tests
 * of one process) got "Address already in use": bound again as soon as it is free.
 */
async function bindZap(z: zmq.Reply): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await z.bind(ZAP_ENDPOINT);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EADDRINUSE' || i >= ZAP_BIND_TRIES) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Make `sock` a CURVE server accepting only `keys.allowedClients`.
 * Returns a function that forgets its allow-list (call it when the socket closes).
 */
export async function curveServer(sock: zmq.Socket, keys: CurveServerKeys): Promise<() => void> {
  const domain = `segflow-${++domainSeq}`;
  domains.set(domain, new Set(keys.allowedClients.map((k) => z85Decode(k).toString('hex'))));
  if (!zap) {
    const z = new zmq.Reply({ linger: 0 });
    zap = z;
    zapBound = bindZap(z).then(
      () => void serveZap(z),
      (e: unknown) => {
        // Not kept: the next CURVE server tries afresh (a kept failure refused every later one).
        if (zap === z) {
          zap = undefined;
          zapBound = undefined;
        }
        z.close();
        throw e;
      },
    );
  }
  // Every caller waits for the handler: no handshake may happen before it answers.
  await zapBound;
  sock.zapDomain = domain;
  try {
    // Where libzmq supports it (draft API), a missing ZAP handler refuses clients instead of admitting them.
    sock.zapEnforceDomain = true;
  } catch {
    // not in this build: the handler above is always bound before this socket binds
  }
  sock.curveServer = true;
  sock.curveSecretKey = keys.secretKey;
  sock.curvePublicKey = keys.publicKey;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    domains.delete(domain);
    if (domains.size === 0 && zap) {
      zap.close();
      zap = undefined;
      zapBound = undefined;
    }
  };
}

/** Make `sock` a CURVE client of the server holding `keys.serverKey`. */
export function curveClient(sock: zmq.Socket, keys: CurveClientKeys): void {
  sock.curveServerKey = keys.serverKey;
  sock.curvePublicKey = keys.publicKey;
  sock.curveSecretKey = keys.secretKey;
}

/** Apply `keys` as the socket's role requires (server when binding). Returns the cleanup. */
export async function applyCurve(sock: zmq.Socket, keys: CurveKeys | undefined, binding: boolean, what: string): Promise<() => void> {
  if (!keys) return () => {};
  if (binding !== (keys.role === 'server')) {
    throw new UsageError(`${what}: ${keys.file} is a ${keys.role} key file, but this socket ${binding ? 'binds (needs a server file with allowedClients)' : 'connects (needs a client file with serverKey)'}`);
  }
  if (keys.role === 'server') return curveServer(sock, keys);
  curveClient(sock, keys);
  return () => {};
}

/** True for endpoints only this machine can reach: 127.0.0.0/8, ::1, localhost, ipc://, inproc://. */
export function isLoopback(endpoint: string): boolean {
  if (!endpoint.startsWith('tcp://')) return true;
  const host = endpoint.slice(6).replace(/:[^:]*$/, '').replace(/^\[|\]$/g, '');
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || host === 'localhost';
}

/** The loud warning for a non-loopback bind without CURVE (undefined when there is nothing to say). */
export function exposureWarning(endpoint: string, curve: boolean, what: string): string | undefined {
  if (curve || isLoopback(endpoint)) return undefined;
  return `WARNING: ${what} listens on ${endpoint} WITHOUT authentication or encryption: anyone who can reach this port can read the frames and send results. ` +
    'Use CURVE (--curve-keys FILE, or the curveKeys option; docs/security-zmq.md) or bind 127.0.0.1.';
}

/**
 * A zmq-sink/zmq-source socket's security: CURVE from `curveKeys` (a path,
 * relative to the graph), and the loud warning for a non-loopback bind without
 * it. Returns the cleanup to call after the socket closes.
 */
export async function secure(sock: zmq.Socket, node: string, type: string, o: { endpoint: string; bind: boolean; curveKeys?: string | undefined }, graphDir: string, log: (m: string) => void): Promise<() => void> {
  let keys: CurveKeys | undefined;
  if (o.curveKeys !== undefined) {
    const file = path.resolve(graphDir, o.curveKeys);
    try {
      keys = o.bind ? loadCurveKeys(file, 'server', 'curveKeys') : loadCurveKeys(file, 'client', 'curveKeys');
    } catch (e) {
      throw new GraphError(`${node} (${type}): ${(e as Error).message}`);
    }
  }
  const done = await applyCurve(sock, keys, o.bind, `${node} (${type})`);
  const warning = o.bind ? exposureWarning(o.endpoint, keys !== undefined, `${node} (${type})`) : undefined;
  if (warning) log(warning);
  return done;
}

// ---- key generation: segflow keys init DIR [--clients N] | add-client SERVER.json OUT.json ----

function writeSecret(file: string, data: unknown): void {
  if (existsSync(file)) throw new UsageError(`${file}: exists; not overwriting a key file`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Writes DIR/server.json and DIR/client-1.json … DIR/client-N.json; returns their paths. */
export function initKeys(dir: string, clients = 1): string[] {
  const server = zmq.curveKeyPair();
  const files: string[] = [];
  const cs = Array.from({ length: clients }, () => zmq.curveKeyPair());
  writeSecret(path.join(dir, 'server.json'), { ...server, allowedClients: cs.map((c) => c.publicKey) });
  files.push(path.join(dir, 'server.json'));
  cs.forEach((c, i) => {
    const f = path.join(dir, `client-${i + 1}.json`);
    writeSecret(f, { ...c, serverKey: server.publicKey });
    files.push(f);
  });
  return files;
}

/** A new client key file for the server of `serverFile`, whose allow-list gains its public key. */
export function addClient(serverFilePath: string, out: string): void {
  const s = loadCurveKeys(serverFilePath, 'server');
  const c = zmq.curveKeyPair();
  writeSecret(out, { ...c, serverKey: s.publicKey });
  writeFileSync(serverFilePath, JSON.stringify({ publicKey: s.publicKey, secretKey: s.secretKey, allowedClients: [...s.allowedClients, c.publicKey] }, null, 2) + '\n', { mode: 0o600 });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [cmd, a, b, c] = process.argv.slice(2);
  try {
    if (cmd === 'init' && a) {
      const n = b === '--clients' ? Number(c) : 1;
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--clients: expected 1..1000, got ${c}`);
      for (const f of initKeys(a, n)) process.stdout.write(`wrote ${f}\n`);
    } else if (cmd === 'add-client' && a && b) {
      addClient(a, b);
      process.stdout.write(`wrote ${b}; added its public key to ${a} (restart the binding side to use it)\n`);
    } else {
      process.stderr.write('usage: npx tsx src/zmq/curve.ts init DIR [--clients N]\n       npx tsx src/zmq/curve.ts add-client SERVER.json CLIENT.json\n');
      process.exitCode = 2;
    }
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
