// Issue 10 item 6: DNS rebinding and cross-origin writes. The Host and Origin allow-list (src/serve/host-check.ts) as
// unit cases, then the bypasses that used to work, as real requests against a real server on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import {
  checkRequestHost,
  isAllowedHost,
  isAllowedOrigin,
  isLoopbackName,
  parseHostHeader,
} from '../../src/serve/host-check.js';
import { startServer, type TlServer } from '../../src/serve/server.js';
import { cleanup, tempDir } from '../helpers.js';

describe('host-check allow-list (unit)', () => {
  test('loopback names: localhost, *.localhost, 127.0.0.0/8 literals, ::1; nothing that merely starts like one', () => {
    for (const ok of [
      'localhost',
      'LOCALHOST',
      'app.localhost',
      'a-b.c.localhost',
      'localhost.',
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.254',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
    ]) {
      assert.equal(isLoopbackName(ok), true, ok);
    }
    for (const bad of [
      '127.0.0.1.evil.com',
      '127.evil.com',
      '127.',
      '127',
      '127.1',
      'localhost.evil.com',
      'evil-localhost',
      'xlocalhost',
      '128.0.0.1',
      '0.0.0.0',
      '10.0.0.1',
      '::2',
      '::',
      '::ffff:10.0.0.1',
      'fe80::1',
      '',
    ]) {
      assert.equal(isLoopbackName(bad), false, bad);
    }
  });

  test('Host headers: name and the server port only, brackets for IPv6, case-insensitive', () => {
    assert.deepEqual(parseHostHeader('[::1]:8765'), { name: '::1', port: 8765 });
    assert.deepEqual(parseHostHeader('LocalHost:80'), { name: 'localhost', port: 80 });
    assert.equal(parseHostHeader('::1:8765'), null, 'IPv6 without brackets is ambiguous');
    assert.equal(parseHostHeader('[evil.com]:1'), null);
    assert.equal(parseHostHeader('user@localhost:1'), null);
    for (const ok of [
      '127.0.0.1:8765',
      'localhost:8765',
      'LOCALHOST:8765',
      '[::1]:8765',
      '[0:0:0:0:0:0:0:1]:8765',
      'x.localhost:8765',
    ])
      assert.equal(isAllowedHost(ok, 8765), true, ok);
    for (const bad of [
      '127.0.0.1.evil.com:8765',
      '127.evil.com:8765',
      '127.evil.com',
      '127.0.0.1:8766',
      'localhost',
      '127.0.0.1',
      '[::1]',
      '[::2]:8765',
      'evil.com:8765',
      '',
      undefined,
    ]) {
      assert.equal(isAllowedHost(bad, 8765), false, String(bad));
    }
    assert.equal(isAllowedHost('localhost', 80), true, 'no port means 80');
  });

  test('Origins: a page of this server only (http, loopback name, same port)', () => {
    for (const ok of ['http://127.0.0.1:8765', 'http://localhost:8765', 'http://[::1]:8765', 'http://LOCALHOST:8765'])
      assert.equal(isAllowedOrigin(ok, 8765), true, ok);
    for (const bad of [
      'http://127.evil.com:8765',
      'http://127.0.0.1.evil.com:8765',
      'http://localhost:3000',
      'https://localhost:8765',
      'null',
      'file://',
      'http://evil.com',
      'garbage',
    ]) {
      assert.equal(isAllowedOrigin(bad, 8765), false, bad);
    }
  });

  test('a server bound to the network (0.0.0.0) takes any Host but still only same-origin writes', () => {
    const lan = { loopbackOnly: false, port: 8765 };
    assert.equal(checkRequestHost({ method: 'GET', host: '192.168.1.5:8765', origin: undefined }, lan).ok, true);
    assert.equal(
      checkRequestHost({ method: 'POST', host: '192.168.1.5:8765', origin: 'http://192.168.1.5:8765' }, lan).ok,
      true,
    );
    assert.equal(
      checkRequestHost({ method: 'POST', host: '192.168.1.5:8765', origin: 'http://evil.com' }, lan).ok,
      false,
    );
  });
});

describe('host-check over real HTTP', () => {
  let work: string;
  let server: TlServer;

  /** A raw request with any Host header (fetch will not set one). */
  function raw(
    path: string,
    headers: Record<string, string>,
    method = 'GET',
    body?: string,
  ): Promise<{ status: number; json: any }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: server.port,
          path,
          method,
          headers: { 'content-type': 'application/json', ...headers },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  before(async () => {
    work = await tempDir('tl-host-check-');
    server = await startServer({ port: 0, projectsDir: work, webDir: null });
  });
  after(async () => {
    await server?.close();
    await cleanup(work);
  });

  test('rebinding Host names get 403 forbidden_host; loopback names with the own port get 200', async () => {
    const port = server.port;
    for (const host of [
      `127.0.0.1.evil.com:${port}`,
      `127.evil.com:${port}`,
      '127.evil.com',
      `localhost.evil.com:${port}`,
      `[::2]:${port}`,
      `127.0.0.1:${port + 1}`,
      `[::1]:${port + 1}`,
      `127.0.0.1.EVIL.COM:${port}`,
    ]) {
      const r = await raw('/v1/projects', { host });
      assert.equal(r.status, 403, host);
      assert.equal(r.json.error.code, 'forbidden_host', host);
    }
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      `[0:0:0:0:0:0:0:1]:${port}`,
      `app.localhost:${port}`,
      `127.0.0.2:${port}`,
    ]) {
      const r = await raw('/v1/projects', { host });
      assert.equal(r.status, 200, host);
    }
  });

  test('a write with a hostile Origin is refused even when the Host header matches it; nothing is created', async () => {
    const port = server.port;
    const attempts: [string, string][] = [
      ['127.evil.com', 'http://127.evil.com'],
      [`127.0.0.1:${port}`, `http://127.0.0.1.evil.com:${port}`],
      [`127.0.0.1:${port}`, `http://localhost:${port + 1}`],
      [`127.0.0.1:${port}`, 'null'],
      [`LOCALHOST:${port}`, `http://EVIL.COM:${port}`],
    ];
    for (const [host, origin] of attempts) {
      const r = await raw('/v1/projects', { host, origin }, 'POST', '{"name":"evil"}');
      assert.equal(r.status, 403, `${host} ${origin}`);
      assert.ok(['forbidden_host', 'cross_origin'].includes(r.json.error.code));
    }
    assert.deepEqual(await readdir(work), [], 'no project was created');
    // The server's own page may write (any loopback spelling of it).
    for (const [i, origin] of [
      `http://127.0.0.1:${port}`,
      `http://localhost:${port}`,
      `http://[::1]:${port}`,
    ].entries()) {
      const r = await raw(
        '/v1/projects',
        { host: `127.0.0.1:${port}`, origin },
        'POST',
        JSON.stringify({ name: `ok${i}` }),
      );
      assert.equal(r.status, 201, origin);
    }
  });
});
