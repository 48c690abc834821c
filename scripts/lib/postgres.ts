/**
 * Brings a Postgres for dev and tests. A real PostgreSQL server when its binaries are on this
 * machine (what CI and the role/RLS tests need), otherwise PGlite, an embedded Postgres in WASM
 * that needs no install (enough for `npm run dev`; see README for its limits).
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const DATABASE_NAME = "streamforge";

export interface RoleUrls {
  /** The read-only metrics role (`streamforge_metrics`). */
  metricsUrl: string;
  /** The authentication role (`streamforge_auth`). */
  authUrl: string;
}

/** Role → password, set once per server: a second ALTER ROLE would lock out URLs already handed out. */
const rolePasswords = new WeakMap<RunningPostgres, Promise<Record<string, string>>>();

/**
 * Gives the worker's roles (created by migration 0002) passwords on a throwaway server and returns
 * their URLs on `databaseName` (default: the application database). Roles belong to the server,
 * not to a database, so the passwords are set on the first call and every later call, for any
 * database, returns URLs with the same ones. PGlite has no logins: there both URLs are the owner's,
 * and RLS is not in force.
 */
export async function roleUrls(postgres: RunningPostgres, databaseName: string = DATABASE_NAME): Promise<RoleUrls> {
  if (postgres.kind === "pglite") return { metricsUrl: postgres.databaseUrl, authUrl: postgres.databaseUrl };
  let passwords = rolePasswords.get(postgres);
  if (passwords === undefined) {
    passwords = setRolePasswords(postgres.adminUrl);
    rolePasswords.set(postgres, passwords);
  }
  const urls = Object.fromEntries(
    Object.entries(await passwords).map(([role, password]) => [
      role,
      `postgres://${role}:${password}@${postgres.host}:${postgres.port}/${databaseName}?sslmode=disable`,
    ]),
  );
  return { metricsUrl: urls.streamforge_metrics!, authUrl: urls.streamforge_auth! };
}

async function setRolePasswords(adminUrl: string): Promise<Record<string, string>> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const passwords: Record<string, string> = {};
    for (const role of ["streamforge_metrics", "streamforge_auth"]) {
      const password = randomBytes(18).toString("base64url");
      // Role names are constants above; the password is base64url. ALTER ROLE takes no parameters.
      await client.query(`alter role ${role} password '${password}'`);
      passwords[role] = password;
    }
    return passwords;
  } finally {
    await client.end();
  }
}

export interface RunningPostgres {
  kind: "postgresql" | "pglite";
  /** Superuser URL on the maintenance database; for migrations and test fixtures only. */
  adminUrl: string;
  /** URL of the application database, as the migration owner. */
  databaseUrl: string;
  /** Host name; for PGlite, the private directory of its Unix socket. */
  host: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Newest PostgreSQL bin directory on this machine, or undefined. `PG_BIN_DIR` overrides. */
function findPostgresBinaries(): string | undefined {
  const override = process.env.PG_BIN_DIR;
  if (override) return existsSync(path.join(override, "initdb")) ? override : undefined;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(path.join(root, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin");
}

async function startPostgresql(binDir: string): Promise<RunningPostgres> {
  const baseDir = await mkdtemp(path.join(tmpdir(), "streamforge-pg-"));
  const dataDir = path.join(baseDir, "data");
  const password = randomBytes(18).toString("base64url");
  const passwordFile = path.join(baseDir, "pwfile");
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });

  // PostgreSQL refuses to run as root; drop to the `postgres` account its package creates.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(baseDir, Number(stdout), Number(gid));
    await chown(passwordFile, Number(stdout), Number(gid));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", path.join(binDir, tool), ...args])
      : run(path.join(binDir, tool), args);

  await pg("initdb", [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=scram-sha-256",
    `--pwfile=${passwordFile}`,
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  const port = await freePort();
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${baseDir}`,
    // Throwaway cluster: durability buys nothing and costs seconds.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
  ].join(" ");
  await pg("pg_ctl", ["-D", dataDir, "-o", serverOptions, "-l", path.join(baseDir, "server.log"), "-w", "start"]);

  // Safety net for a runner that exits without its teardown (a crash, process.exit): never leave a server behind.
  const stopOnExit = () => {
    try {
      execFileSync(
        asRoot ? "runuser" : path.join(binDir, "pg_ctl"),
        [
          ...(asRoot ? ["-u", "postgres", "--", path.join(binDir, "pg_ctl")] : []),
          "-D",
          dataDir,
          "-m",
          "immediate",
          "stop",
        ],
        { stdio: "ignore" },
      );
    } catch {
      // Already stopped.
    }
  };
  process.once("exit", stopOnExit);

  const adminUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres?sslmode=disable`;
  const databaseUrl = await createDatabase(adminUrl, DATABASE_NAME);
  return {
    kind: "postgresql",
    adminUrl,
    databaseUrl,
    host: "127.0.0.1",
    port,
    stop: async () => {
      process.removeListener("exit", stopOnExit);
      await pg("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]).catch(() => undefined);
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates an empty database on the server of `adminUrl` (a superuser on the maintenance database)
 * and returns its URL as that superuser, the owner migrations and seeds run as.
 */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  // CREATE DATABASE takes no parameters: only plain lower-case identifiers get into the statement.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain database name: ${JSON.stringify(name)}`);
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The port in the socket file's name (`.s.PGSQL.<port>`), the name pg looks for in a socket directory. */
const PGLITE_SOCKET_PORT = 5432;

/**
 * PGlite accepts any user without a password, as the owner, so it never listens on TCP, where any
 * local user could connect: its socket is a Unix socket in a directory only this user can enter.
 */
async function startPglite(): Promise<RunningPostgres> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { pgcrypto } = await import("@electric-sql/pglite/contrib/pgcrypto");
  const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket");
  // pgcrypto verifies the tenant scope tokens (migration 0003), as on a real server.
  const db = await PGlite.create({ extensions: { pgcrypto } });
  const socketDir = await mkdtemp(path.join(tmpdir(), "streamforge-pglite-"));
  await chmod(socketDir, 0o700);
  const socketPath = path.join(socketDir, `.s.PGSQL.${PGLITE_SOCKET_PORT}`);
  // The default of one connection would refuse the migration tool and the worker at the same time.
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 64 });
  await server.start();
  // PGlite has one database and accepts any user; `host` names the socket directory.
  const url = `postgres://postgres@localhost:${PGLITE_SOCKET_PORT}/postgres?host=${encodeURIComponent(socketDir)}&sslmode=disable`;
  return {
    kind: "pglite",
    adminUrl: url,
    databaseUrl: url,
    host: socketDir,
    port: PGLITE_SOCKET_PORT,
    stop: async () => {
      await server.stop();
      await db.close();
      await rm(socketDir, { recursive: true, force: true });
    },
  };
}

export type PostgresPreference = "auto" | "postgresql" | "pglite";

/**
 * `auto` takes a real server when binaries exist, else PGlite; `postgresql` refuses to fall back,
 * so CI cannot silently test against the embedded database.
 */
export async function startPostgres(preference: PostgresPreference = "auto"): Promise<RunningPostgres> {
  const binDir = findPostgresBinaries();
  if (preference === "pglite" || (preference === "auto" && binDir === undefined)) return startPglite();
  if (binDir === undefined) {
    throw new Error(
      "PostgreSQL binaries not found (looked in /usr/lib/postgresql/*/bin and PG_BIN_DIR). Install Debian's postgresql package.",
    );
  }
  return startPostgresql(binDir);
}
