// Which Host and Origin headers a loopback-bound server answers. An allow-list, never a prefix test: DNS rebinding
// makes a hostile name (127.0.0.1.evil.com) resolve to 127.0.0.1, so only names that can only mean this machine pass:
// `localhost`, `*.localhost` (RFC 6761), IPv4 literals in 127.0.0.0/8, and `[::1]`, each with the server's own port.
import { isIP } from 'node:net';

const LOCALHOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*localhost\.?$/;

/** A host name (lower case, IPv6 without brackets) that can only mean this machine. */
export function isLoopbackName(name: string): boolean {
  const host = name.toLowerCase();
  if (LOCALHOST_RE.test(host)) return true;
  const family = isIP(host);
  if (family === 4) return host.split('.')[0] === '127';
  if (family === 6) {
    // Canonical form through the URL parser: 0:0:0:0:0:0:0:1 → ::1, ::ffff:127.0.0.1 → ::ffff:7f00:1.
    const canonical = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    return canonical === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
  }
  return false;
}

/** Split a Host header into name and port; null when it is not `name[:port]` or `[ipv6][:port]`. */
export function parseHostHeader(header: string): { name: string; port: number | null } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+))(?::(\d{1,5}))?$/.exec(header);
  if (!m) return null;
  if (m[1] !== undefined && isIP(m[1]) !== 6) return null;
  return { name: (m[1] ?? m[2]).toLowerCase(), port: m[3] === undefined ? null : Number(m[3]) };
}

/** The Host header names this machine and the server's own port (no port means 80, as in HTTP). */
export function isAllowedHost(header: string | undefined, ownPort: number): boolean {
  const h = parseHostHeader(header ?? '');
  return !!h && isLoopbackName(h.name) && (h.port ?? 80) === ownPort;
}

/** The Origin is a page served by this very server (http, a loopback name, the server's own port). */
export function isAllowedOrigin(origin: string, ownPort: number): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file://) and anything unparsable
  }
  const name = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return url.protocol === 'http:' && isLoopbackName(name) && Number(url.port || 80) === ownPort;
}

export type HostCheckResult =
  { ok: true } | { ok: false; status: 403; code: 'forbidden_host' | 'cross_origin'; message: string };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The request check: on a loopback-bound server, the Host must be on the allow-list and a write's Origin (when the
 * browser sends one) must be this server. A server bound to another address (--host 0.0.0.0) was opened to the
 * network on purpose: there a write's Origin must match the request's own Host (same-origin only).
 */
export function checkRequestHost(
  req: { method: string; host: string | undefined; origin: string | undefined },
  server: { loopbackOnly: boolean; port: number },
): HostCheckResult {
  if (server.loopbackOnly && !isAllowedHost(req.host, server.port)) {
    const shown = (req.host ?? '').slice(0, 80);
    return {
      ok: false,
      status: 403,
      code: 'forbidden_host',
      message: `this server only answers requests for localhost:${server.port}, not "${shown}"`,
    };
  }
  if (req.origin !== undefined && !SAFE_METHODS.has(req.method)) {
    const allowed = server.loopbackOnly ? isAllowedOrigin(req.origin, server.port) : sameHost(req.origin, req.host);
    if (!allowed)
      return {
        ok: false,
        status: 403,
        code: 'cross_origin',
        message: 'cross-origin requests that change data are refused',
      };
  }
  return { ok: true };
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
