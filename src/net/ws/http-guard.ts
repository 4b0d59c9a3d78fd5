/**
 * Checks every segflow HTTP server (the WebSocket server and the metrics
 * server) makes before it looks at a request, written so that none of them can
 * throw whatever bytes arrive.
 *
 * - `parseTarget`: the request target split into path and query without
 *   `new URL` (which throws on `//[`): only origin-form targets (`/path?query`)
 *   are accepted; `URLSearchParams` decodes bad percent-encoding leniently.
 * - `hostAllowed`: DNS-rebinding defence. A page on `evil.example` whose name
 *   is re-pointed at 127.0.0.1 reaches our port with `Host: evil.example:PORT`
 *   (and an Origin to match). So the Host must name us: an IP address literal
 *   (a rebinding attack always uses a name), `localhost`, or the bind host, with
 *   the bound port; or an entry of `allowedHosts` (`name` = any port,
 *   `name:port`, `*` = any Host).
 * - `crossSiteRequest`: a page on another origin may make the browser send GETs
 *   here (`<img src>`, `fetch(no-cors)`); refuse those that carry a foreign
 *   Origin or `Sec-Fetch-Site: cross-site|same-site`, except top-level
 *   navigations (a link to the viewer page cannot read anything).
 */
import { isIP } from 'node:net';
import type http from 'node:http';

export interface Target {
  /** The path as sent (not percent-decoded; routes compare it literally). */
  readonly pathname: string;
  readonly query: URLSearchParams;
}

/** Path and query of an origin-form request target; undefined for anything else (`*`, `http://…`, `//[`, empty). */
export function parseTarget(raw: string | undefined): Target | undefined {
  if (!raw || raw[0] !== '/' || raw.startsWith('//')) return undefined;
  const hash = raw.indexOf('#');
  const noHash = hash < 0 ? raw : raw.slice(0, hash);
  const q = noHash.indexOf('?');
  return { pathname: q < 0 ? noHash : noHash.slice(0, q), query: new URLSearchParams(q < 0 ? '' : noHash.slice(q + 1)) };
}

const HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)(?::(\d{1,5}))?$/;

/** Host names that are the machine itself whatever the bind address. */
const LOOPBACK_NAMES = new Set(['localhost']);

/**
 * Whether a `Host` header names this server (bound to `bindHost`:`port`).
 * A missing Host (HTTP/1.0 tools) is allowed: browsers always send one.
 */
export function hostAllowed(host: string | undefined, bindHost: string, port: number, allowedHosts: readonly string[]): boolean {
  if (host === undefined) return true;
  if (allowedHosts.includes('*')) return true;
  const m = HOST_RE.exec(host.trim());
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  const p = m[2] === undefined ? 80 : Number(m[2]);
  for (const a of allowedHosts) {
    const al = a.toLowerCase();
    if (al === name || al === `${name}:${p}`) return true;
  }
  if (p !== port) return false;
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  return isIP(bare) !== 0 || LOOPBACK_NAMES.has(bare) || bare === bindHost.toLowerCase().replace(/^\[|\]$/g, '');
}

/** `*`, `name` or `name:port` (what allowedHosts accepts). */
export const HOST_PATTERN = /^(\*|(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:\d{1,5})?)$/;

/**
 * Whether a browser Origin may talk to us: the page's own (`http(s)://` + the
 * already checked Host), one of `allowedOrigins`, or any with `*` there. No
 * Origin (not a browser) is allowed.
 */
export function originAllowed(req: http.IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || allowedOrigins.includes('*')) return true;
  const o = origin.toLowerCase();
  const host = req.headers.host?.trim().toLowerCase();
  if (host && (o === `http://${host}` || o === `https://${host}`)) return true;
  return allowedOrigins.some((a) => a.toLowerCase() === o);
}

/**
 * A reason to refuse an HTTP GET made by a page on another origin, or
 * undefined. Browsers send `Origin` on CORS requests and `Sec-Fetch-Site` on
 * all (since 2020-2023); a request with neither is not from a modern browser
 * page and is judged by the token alone.
 */
export function crossSiteRequest(req: http.IncomingMessage, allowedOrigins: readonly string[]): string | undefined {
  if (allowedOrigins.includes('*')) return undefined;
  if (req.headers.origin !== undefined && !originAllowed(req, allowedOrigins)) return `origin ${show(req.headers.origin)} is not allowed`;
  const site = header(req, 'sec-fetch-site');
  if (site !== 'cross-site' && site !== 'same-site') return undefined;
  // A link followed to the page (top-level navigation): the other site cannot read the result.
  if (header(req, 'sec-fetch-mode') === 'navigate' && header(req, 'sec-fetch-dest') === 'document') return undefined;
  if (req.headers.origin !== undefined) return undefined; // checked above: an allowed origin
  return `a ${site} request (Sec-Fetch-Site) without an allowed Origin`;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase();
}

/** A client-supplied value for an error message: quoted, control characters escaped, at most 120 characters. */
export function show(v: unknown): string {
  const s = JSON.stringify(String(v));
  return s.length > 122 ? `${s.slice(0, 120)}…"` : s;
}

/** The token from `Authorization: Bearer …` (scheme case-insensitive, RFC 9110 §11.1) or undefined. */
export function bearerToken(auth: string | undefined): string | undefined {
  const m = auth === undefined ? null : /^bearer[ \t]+(.*?)[ \t]*$/i.exec(auth);
  return m?.[1] || undefined;
}
