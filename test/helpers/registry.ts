// A real OCI registry for tests: Debian's docker-registry (CNCF distribution)
// on 127.0.0.1 with its own storage in a temp dir.
//
//   const reg = await startRegistry();                 // plain HTTP, anonymous
//   const sec = await startRegistry({ auth: { username: 'u', password: 'p' } });
//                                                      // TLS (test CA) + htpasswd
//   reg.host        // '127.0.0.1:PORT' — use in image refs: `${reg.host}/test/busybox:latest`
//   reg.url         // 'http://127.0.0.1:PORT' or 'https://…'
//   reg.caFile      // PEM of the test CA (TLS registries only), for `ca_file` config
//   reg.blobPath(d) // the registry's storage file of blob digest `sha256:…` (tamper tests)
//   await reg.stop()  // kills the registry and removes every file it made
//
// The registry only allows htpasswd over TLS, so `auth` implies `tls`.
//   const tok = await startRegistry({ token: { username: 'bob', password: 'pw' } });
// runs the distribution spec's token flow instead: the registry answers 401
// with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` and trusts JWTs
// from a token server the fixture runs in-process on 127.0.0.1 (tok.tokenUrl,
// tok.tokenRequests counts its calls). Valid credentials get the scopes they
// ask for; anonymous requests get a token granting nothing.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, Agent } from 'undici';

export interface RegistryOptions {
  tls?: boolean;
  auth?: { username: string; password: string };
  token?: { username: string; password: string };
}

export interface TestRegistry {
  host: string;
  url: string;
  port: number;
  dir: string;
  storage: string;
  caFile?: string;
  auth?: { username: string; password: string };
  blobPath(digest: string): string;
  /** Token-auth registries: the realm, and how many tokens were asked for. */
  tokenUrl?: string;
  tokenRequests?: () => number;
  logs(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed CA and a server certificate for 127.0.0.1/localhost signed by it. */
export function makeTestCerts(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const cert = join(dir, 'server.pem');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'ext.cnf');
  const ossl = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth test CA', '-keyout', caKey, '-out', ca]);
  ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', csr]);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  ossl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { ca, cert, key };
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const tls = opts.tls || !!opts.auth;
  const dir = mkdtempSync(join(tmpdir(), 'berth-reg-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  let caFile: string | undefined;
  if (tls) {
    const c = makeTestCerts(dir);
    caFile = c.ca;
    lines.push('  tls:', `    certificate: ${c.cert}`, `    key: ${c.key}`);
  }
  if (opts.auth) {
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-Bbc', htpasswd, opts.auth.username, opts.auth.password], { stdio: 'ignore' });
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${htpasswd}`);
  }
  let tokenServer: TokenServer | undefined;
  if (opts.token) {
    tokenServer = await startTokenServer(dir, opts.token);
    lines.push('auth:', '  token:', `    realm: ${tokenServer.url}`, '    service: berth-test', '    issuer: berth-test-issuer',
      `    rootcertbundle: ${tokenServer.certFile}`);
  }
  const cfg = join(dir, 'config.yml');
  writeFileSync(cfg, lines.join('\n') + '\n');

  const proc: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    await tokenServer?.close();
    rmSync(dir, { recursive: true, force: true });
  };

  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited:\n${out}`);
    }
    try {
      const res = await request(`${url}/v2/`, { dispatcher });
      await res.body.dump();
      if (res.statusCode === 200 || res.statusCode === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not become ready:\n${out}`);
    }
    await sleep(30);
  }
  await dispatcher.close();

  return {
    host: `127.0.0.1:${port}`,
    url,
    port,
    dir,
    storage,
    caFile,
    auth: opts.auth ?? opts.token,
    tokenUrl: tokenServer?.url,
    tokenRequests: tokenServer ? () => tokenServer.requests : undefined,
    blobPath: (digest: string) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    logs: () => out,
    stop,
  };
}

interface TokenServer {
  url: string;
  certFile: string;
  requests: number;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A token server per the distribution token spec, signing RS256 JWTs with an x5c chain. */
async function startTokenServer(dir: string, creds: { username: string; password: string }): Promise<TokenServer> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=berth token issuer', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const certDer = new X509Certificate(readFileSync(certFile)).raw;
  const state = { requests: 0 };
  const server = createHttpServer((req, res) => {
    state.requests++;
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    let user = '';
    if (auth.startsWith('Basic ')) {
      // Basic credentials are user:password, the password free to hold colons.
      const pair = Buffer.from(auth.slice(6), 'base64').toString();
      const [u, p] = [pair.slice(0, pair.indexOf(':')), pair.slice(pair.indexOf(':') + 1)];
      if (u !== creds.username || p !== creds.password) {
        res.statusCode = 401;
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      user = u;
    }
    const access = user
      ? url.searchParams.getAll('scope').map((sc) => {
          const [type, name, actions] = [sc.slice(0, sc.indexOf(':')), sc.slice(sc.indexOf(':') + 1, sc.lastIndexOf(':')), sc.slice(sc.lastIndexOf(':') + 1)];
          return { type, name, actions: actions.split(',') };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] };
    const claims = { iss: 'berth-test-issuer', sub: user, aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(key);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/token`,
    certFile,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
