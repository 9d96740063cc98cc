import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** Debian's PostgreSQL server programs (initdb, pg_ctl), the newest version installed, or undefined. */
function serverBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** Why a private PostgreSQL server cannot be made here, or undefined. Under CI=true it must be possible. */
export function privatePostgresSkipReason(): string | undefined {
  const reason = serverBinaries() ? undefined : 'no PostgreSQL server programs under /usr/lib/postgresql';
  if (reason && process.env.CI === 'true') throw new Error(`${reason}; CI=true requires them`);
  return reason;
}

/**
 * A PostgreSQL server of the test's own, on a free port, in a temporary folder: a test can stop,
 * start and restart it without touching the shared server the other test files use at the same
 * time. The server refuses to run as root; as root its programs run as the `postgres` user.
 */
export class PrivatePostgres {
  private readonly bin = serverBinaries()!;
  private readonly folder = mkdtempSync(join(tmpdir(), 'private-postgres-'));
  private readonly dataDir = join(this.folder, 'data');

  private constructor(readonly port: number) {}

  /** A new server, started. */
  static async create(): Promise<PrivatePostgres> {
    const server = new PrivatePostgres(await freePort());
    if (userInfo().uid === 0) {
      const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
      chownSync(server.folder, Number(uid.stdout), Number(gid.stdout));
    }
    await server.program('initdb', ['-D', server.dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
    await server.start();
    return server;
  }

  /** Starts the server (again), waiting until it takes connections. */
  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.folder} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.program('pg_ctl', ['-D', this.dataDir, '-o', options, '-l', join(this.folder, 'log'), '-w', 'start']);
  }

  /** Stops the server: `fast` ends every session and shuts down cleanly; `immediate` is a crash, recovered from at the next start. */
  async stop(mode: 'fast' | 'immediate'): Promise<void> {
    await this.program('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
  }

  /** A new database on this server, and its URL. */
  async createDatabase(name: string): Promise<string> {
    const admin = this.client('postgres');
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return this.urlOf(name);
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** An administrator's connection to a database of this server (not connected yet). */
  client(database: string): pg.Client {
    return new pg.Client({ connectionString: this.urlOf(database), connectionTimeoutMillis: 3000 });
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    rmSync(this.folder, { recursive: true, force: true });
  }

  private async program(name: string, args: string[]): Promise<void> {
    const path = join(this.bin, name);
    const [file, argv] = userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    await run(file, argv, { cwd: this.folder });
  }
}
