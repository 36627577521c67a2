/**
 * The services beside the engine that the tests need: an authenticated
 * registry (Debian's docker-registry with htpasswd) and an sshd whose key
 * runs `docker system dial-stdio` against the test engine.
 *
 * @module
 */

import { join, resolve } from "node:path";
import {
  aptInstall,
  findExecutable,
  findProcessesUnder,
  isRoot,
  output,
  sleep,
  spawnLogged,
  stopOnce,
  tail,
  terminate,
} from "./_process.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Executables a test registry runs. */
const REGISTRY_PROCESS_NAMES = ["docker-registry", "registry"];

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

/** A registry this process started; see {@linkcode startRegistry}. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, plain HTTP (Docker allows 127.0.0.0/8 without TLS). */
  address: string;
  /** User name accepted by the registry's htpasswd file. */
  username: string;
  /** Random password for {@linkcode TestRegistry.username}; generated per start. */
  password: string;
  /** Stops the registry (SIGTERM, SIGKILL after 5 s). Leaves the files; idempotent. */
  stop(): Promise<void>;
  /** Same as {@linkcode TestRegistry.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Status of `GET http://address/v2/` without credentials, or 0 when nothing answers. */
export async function registryStatus(address: string): Promise<number> {
  try {
    const response = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * Starts a Docker registry (Debian's `docker-registry`, distribution 2.x) on
 * `127.0.0.1:<free port>` with bcrypt htpasswd basic auth and filesystem
 * storage under `dir`; deletes are enabled. Installs `docker-registry` and
 * `apache2-utils` with apt-get when missing and root.
 *
 * @param dir Directory to own (config, htpasswd, storage, `registry.log`); created if missing.
 * @returns The running registry with its address and credentials.
 * @throws {Error} When the binaries are missing and cannot be installed, or
 *   `GET /v2/` does not answer 401 within 30 s.
 *
 * @example Start a registry and log in through the engine
 * ```ts ignore
 * import { startRegistry } from "./_services.ts";
 * await using registry = await startRegistry("/tmp/berth-registry");
 * console.log(registry.address, registry.username);
 * ```
 */
export async function startRegistry(dir: string): Promise<TestRegistry> {
  dir = resolve(dir);
  let registryBin = await findExecutable("docker-registry");
  let htpasswd = await findExecutable("htpasswd");
  if ((!registryBin || !htpasswd) && isRoot()) {
    await aptInstall(["docker-registry", "apache2-utils"]);
    registryBin = await findExecutable("docker-registry");
    htpasswd = await findExecutable("htpasswd");
  }
  if (!registryBin || !htpasswd) {
    throw new Error(
      "Cannot start the test registry: docker-registry or htpasswd not found (apt-get install docker-registry apache2-utils, as root)",
    );
  }

  await Deno.mkdir(join(dir, "data"), { recursive: true });
  const username = "berth";
  const password = randomHex(16);
  // -i: password on stdin, never on a command line other processes can read.
  const entry = await output(htpasswd, ["-B", "-i", "-n", username], encoder.encode(password));
  const htpasswdPath = join(dir, "htpasswd");
  await Deno.writeFile(htpasswdPath, entry, { mode: 0o600 });
  const logPath = join(dir, "registry.log");

  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const address = `127.0.0.1:${freePort()}`;
    const configPath = join(dir, "config.yml");
    // JSON strings are valid YAML double-quoted scalars.
    await Deno.writeTextFile(
      configPath,
      [
        "version: 0.1",
        "log:",
        "  level: info",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${JSON.stringify(join(dir, "data"))}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${JSON.stringify(address)}`,
        `  secret: ${JSON.stringify(randomHex(16))}`,
        "auth:",
        "  htpasswd:",
        '    realm: "berth-test"',
        `    path: ${JSON.stringify(htpasswdPath)}`,
        "",
      ].join("\n"),
    );
    const child = spawnLogged([registryBin, "serve", configPath], logPath, dir);
    const stop = stopOnce(child);
    let running = true;
    child.status.then(() => running = false);
    const deadline = Date.now() + 30_000;
    while (running && Date.now() < deadline) {
      if (await registryStatus(address) === 401) {
        return { address, username, password, stop, [Symbol.asyncDispose]: stop };
      }
      await sleep(50);
    }
    await stop();
    lastError = `${
      running ? "did not answer 401 on /v2/ within 30 s" : "exited"
    }; last lines of ${logPath}:\n${await tail(
      logPath,
      30,
    )}`;
    // A port taken between freePort() and bind is worth another try; anything else is not.
    if (!/address already in use/.test(lastError)) break;
  }
  throw new Error(`Test registry in "${dir}" ${lastError}`);
}

/**
 * Stops any registry still serving from `dir` (from this run or a killed one)
 * and deletes the directory.
 *
 * @param dir The registry directory.
 * @returns Resolves once the directory is gone.
 *
 * @example Remove a stale registry directory
 * ```ts ignore
 * import { removeRegistryDir } from "./_services.ts";
 * await removeRegistryDir(".berth/registry-1234");
 * ```
 */
export async function removeRegistryDir(dir: string): Promise<void> {
  dir = resolve(dir);
  await terminate(findProcessesUnder(dir, REGISTRY_PROCESS_NAMES), 5000);
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

export function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

// ---------------------------------------------------------------------------
// sshd (for ssh:// hosts)
// ---------------------------------------------------------------------------

/** An sshd this process started; see {@linkcode startSshd}. */
export interface TestSshd {
  /** `ssh://USER@127.0.0.1:PORT`: a Docker host whose dial-stdio reaches the engine. */
  host: string;
  /**
   * Client arguments that make ssh use this server's key and nothing of the
   * user's (`-F /dev/null`, `-i KEY`, a known_hosts file with the host key,
   * `StrictHostKeyChecking=yes`), for berth's `ssh.args`.
   */
  args: string[];
  /** Stops sshd (SIGTERM, SIGKILL after 5 s). Leaves the files; idempotent. */
  stop(): Promise<void>;
  /** Same as {@linkcode TestSshd.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Whether something on 127.0.0.1:`port` greets like an SSH server. */
export async function sshBanner(port: number): Promise<boolean> {
  let conn: Deno.Conn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const buffer = new Uint8Array(64);
    const read = conn.read(buffer);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      read,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 1000)),
    ]);
    clearTimeout(timer);
    conn.close();
    conn = undefined;
    await read.catch(() => null);
    return n !== null && decoder.decode(buffer.subarray(0, n)).startsWith("SSH-");
  } catch {
    return false;
  } finally {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Starts a private OpenSSH server on `127.0.0.1:<free port>` for `ssh://`
 * tests: its own host key, config and a generated ed25519 client key in
 * `dir`; the only authorized key has a forced command that runs what the
 * client asked for, through the shell as sshd would, when it is `docker
 * [--host unix://PATH] system dial-stdio` (with the given engine as the
 * default host), and refuses anything else. Password and keyboard-interactive
 * logins are off. Installs `openssh-server` with apt-get when sshd is missing and root.
 *
 * @param dir Directory to own (keys, config, `sshd.log`); created if missing.
 * @param engineHost The engine the forced command's `docker` CLI talks to.
 * @returns The running server, with the host and client arguments for berth.
 * @throws {Error} When sshd, ssh-keygen or the docker CLI is missing, or sshd
 *   does not greet within 30 s.
 *
 * @example Start sshd in front of an engine
 * ```ts ignore
 * import { startSshd } from "./_services.ts";
 * await using sshd = await startSshd("/tmp/berth-sshd", "unix:///var/run/docker.sock");
 * console.log(sshd.host, sshd.args);
 * ```
 */
export async function startSshd(dir: string, engineHost: string): Promise<TestSshd> {
  dir = resolve(dir);
  let sshd = await findExecutable("sshd");
  if (!sshd && isRoot()) {
    await aptInstall(["openssh-server"]);
    sshd = await findExecutable("sshd");
  }
  const keygen = await findExecutable("ssh-keygen");
  const docker = await findExecutable("docker");
  if (!sshd || !keygen || !docker) {
    throw new Error(
      `Cannot start the test sshd: ${
        !sshd ? "sshd" : !keygen ? "ssh-keygen" : "the docker CLI"
      } not found (apt-get install openssh-server docker.io, as root)`,
    );
  }
  // sshd checks that its privilege separation directory exists.
  if (isRoot()) await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, "host_key");
  const clientKey = join(dir, "client_key");
  for (const key of [hostKey, clientKey]) {
    await Deno.remove(key).catch(() => {});
    await Deno.remove(`${key}.pub`).catch(() => {});
    await output(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "berth-test", "-f", key]);
  }
  const user = isRoot() ? "root" : Deno.env.get("USER") ?? "root";
  const forced = join(dir, "dial");
  await Deno.writeTextFile(
    forced,
    [
      "#!/bin/sh",
      "# The test key's forced command: the docker command the client asked for, run by the",
      "# shell as sshd would run it, with the test engine as the default host.",
      `export DOCKER_HOST='${engineHost}'`,
      `docker() { exec '${docker}' "$@"; }`,
      'case "$SSH_ORIGINAL_COMMAND" in',
      '  "docker system dial-stdio" | "docker --host "*" system dial-stdio")',
      '    eval "$SSH_ORIGINAL_COMMAND" ;;',
      '  *) echo "refused: $SSH_ORIGINAL_COMMAND" >&2; exit 1 ;;',
      "esac",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  await Deno.chmod(forced, 0o755); // An older file keeps its mode otherwise.
  const clientPub = (await Deno.readTextFile(`${clientKey}.pub`)).trim();
  await Deno.writeTextFile(
    join(dir, "authorized_keys"),
    `command="${forced}",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding ${clientPub}\n`,
  );
  const hostPub = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(" ").slice(0, 2)
    .join(" ");
  const logPath = join(dir, "sshd.log");

  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const knownHosts = join(dir, "known_hosts");
    await Deno.writeTextFile(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
    const configPath = join(dir, "sshd_config");
    await Deno.writeTextFile(
      configPath,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "UsePAM no",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "MaxStartups 200",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    const child = spawnLogged([sshd, "-D", "-e", "-f", configPath], logPath, dir);
    const stop = stopOnce(child);
    let running = true;
    child.status.then(() => running = false);
    const deadline = Date.now() + 30_000;
    while (running && Date.now() < deadline) {
      if (await sshBanner(port)) {
        const args = [
          "-F",
          "/dev/null",
          "-i",
          clientKey,
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "IdentityAgent=none",
          "-o",
          `UserKnownHostsFile=${knownHosts}`,
          "-o",
          "GlobalKnownHostsFile=/dev/null",
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          "LogLevel=ERROR",
        ];
        const host = `ssh://${user}@127.0.0.1:${port}`;
        return { host, args, stop, [Symbol.asyncDispose]: stop };
      }
      await sleep(50);
    }
    await stop();
    lastError = `${
      running ? "did not greet within 30 s" : "exited"
    }; last lines of ${logPath}:\n${await tail(
      logPath,
      30,
    )}`;
    if (!/Address already in use/i.test(lastError)) break;
  }
  throw new Error(`Test sshd in "${dir}" ${lastError}`);
}

/**
 * Stops an sshd still serving from `dir` (from this run or a killed one: its
 * pid file names it) and deletes the directory.
 *
 * @param dir The sshd directory.
 * @returns Resolves once the directory is gone.
 *
 * @example Remove a stale sshd directory
 * ```ts ignore
 * import { removeSshdDir } from "./_services.ts";
 * await removeSshdDir(".berth/sshd-1234");
 * ```
 */
export async function removeSshdDir(dir: string): Promise<void> {
  dir = resolve(dir);
  let pid: number | undefined;
  try {
    pid = Number((await Deno.readTextFile(join(dir, "sshd.pid"))).trim());
  } catch {
    // no pid file: never started, or already stopped
  }
  if (pid && Number.isSafeInteger(pid)) {
    let cmdline = "";
    try {
      cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    } catch {
      // gone
    }
    // sshd rewrites its title but keeps the config path in it.
    if (cmdline.includes(`${dir}/`)) await terminate([pid], 5000);
  }
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
