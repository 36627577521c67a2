/**
 * Test infrastructure for berth: a real Docker engine, the busybox test image
 * and an authenticated registry, all driven from Deno with no dependencies.
 *
 * This is tooling, not the library: it speaks raw HTTP/1.1 with
 * `Connection: close` on purpose, so that a bug in `src/http/` can never hide
 * a broken harness (or the other way round). It assumes Debian (apt) when it
 * has to install something, and only installs when running as root.
 *
 * Processes are found again from their directory alone (every daemon started
 * here names its directory on its command line), so a run that was killed can
 * be cleaned up by the next one with {@linkcode removeEngineDir} and
 * {@linkcode removeRegistryDir}.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  aptInstall,
  exited,
  findExecutable,
  findProcessesUnder,
  isRoot,
  log,
  output,
  signal,
  sleep,
  spawnLogged,
  tail,
  terminate,
  unmountUnder,
  writeAll,
} from "./_process.ts";

/** Name of the image {@linkcode ensureTestImage} provides. */
export const TEST_IMAGE = "berth-test/busybox:latest";

/** Label carried by the test image and by everything tests create. */
export const TEST_LABEL = { key: "berth.test", value: "1" } as const;

/** Executables a private engine runs; only these are ever signalled by directory. */
const ENGINE_PROCESS_NAMES = [
  "dockerd",
  "containerd",
  "containerd-shim",
  "containerd-shim-runc-v1",
  "containerd-shim-runc-v2",
  "docker-proxy",
  "runc",
];

/** Longest socket path the kernel accepts is 107 bytes; containerd's is the longest we make. */
const LONGEST_SOCKET_SUFFIX = "/exec/containerd/containerd.sock.ttrpc";
const MAX_SOCKET_PATH = 107;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Raw HTTP to the engine
// ---------------------------------------------------------------------------

/** Options for {@linkcode engineRequest}. */
export interface EngineRequestOptions {
  /**
   * HTTP method.
   *
   * @default {"GET"}
   */
  method?: string;
  /** Request body; sent with `Content-Length`. */
  body?: Uint8Array | string;
  /** Extra request headers (`Host`, `Connection` and `Content-Length` are set here). */
  headers?: Record<string, string>;
  /**
   * Milliseconds for the whole exchange, connect to end of body.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** Result of {@linkcode engineRequest}. */
export interface EngineResponse {
  /** Final HTTP status (interim `1xx` responses are skipped). */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Whole response body, de-chunked. */
  body: Uint8Array;
  /** The body decoded as UTF-8. */
  text(): string;
}

/**
 * Splits a Docker host string into `Deno.connect` options.
 *
 * Accepts `unix:///path`, a bare absolute path, `tcp://host:port` and
 * `http://host:port`.
 *
 * @param host The engine address, in `DOCKER_HOST` syntax.
 * @returns Options for `Deno.connect`.
 * @throws {TypeError} When the host is not one of the forms above.
 *
 * @example Parse a Unix socket address
 * ```ts
 * import { parseHost } from "./_engine.ts";
 * const options = parseHost("unix:///var/run/docker.sock");
 * if (options.transport !== "unix" || options.path !== "/var/run/docker.sock") throw new Error();
 * ```
 */
export function parseHost(host: string): Deno.UnixConnectOptions | Deno.ConnectOptions {
  if (host.startsWith("unix://")) return { transport: "unix", path: host.slice("unix://".length) };
  if (host.startsWith("/")) return { transport: "unix", path: host };
  const match = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (match) {
    return {
      transport: "tcp",
      hostname: match[1]!.replace(/^\[|\]$/g, ""),
      port: Number(match[2] ?? 2375),
    };
  }
  throw new TypeError(`Cannot use Docker host "${host}": expected unix:///path or tcp://host:port`);
}

/**
 * Sends one HTTP/1.1 request to the engine on a fresh connection and reads
 * the whole response (the request says `Connection: close`).
 *
 * @param host The engine address, in `DOCKER_HOST` syntax.
 * @param path Request target, e.g. `/_ping` (already encoded).
 * @param options Method, body, headers and timeout.
 * @returns The status, headers and de-chunked body.
 * @throws {Error} When the connection fails, the timeout passes, or the answer is not HTTP.
 *
 * @example Ask the engine for its version
 * ```ts ignore
 * import { engineRequest } from "./_engine.ts";
 * const response = await engineRequest("unix:///var/run/docker.sock", "/version");
 * console.log(response.status, JSON.parse(response.text()).ApiVersion);
 * ```
 */
export async function engineRequest(
  host: string,
  path: string,
  options: EngineRequestOptions = {},
): Promise<EngineResponse> {
  const { method = "GET", timeoutMs = 30_000 } = options;
  const body = typeof options.body === "string" ? encoder.encode(options.body) : options.body;
  let head = `${method} ${path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    head += `${name}: ${value}\r\n`;
  }
  if (body !== undefined) head += `Content-Length: ${body.byteLength}\r\n`;
  head += "\r\n";

  let conn: Deno.Conn | undefined;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        conn?.close();
      } catch {
        // already closed
      }
      reject(new Error(`Cannot ${method} ${path} on ${host}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  deadline.catch(() => {}); // only raced below; never an unhandled rejection
  try {
    return await Promise.race([
      deadline,
      (async () => {
        const connected = await connect(host);
        if (timedOut) {
          connected.close();
          throw new Error("timed out");
        }
        conn = connected;
        await writeAll(conn, encoder.encode(head));
        if (body !== undefined) await writeAll(conn, body);
        const raw = await readAll(conn);
        return parseResponse(raw, `${method} ${path} on ${host}`);
      })(),
    ]);
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // already closed by the timer or the peer
    }
  }
}

function connect(host: string): Promise<Deno.Conn> {
  const options = parseHost(host);
  return options.transport === "unix" ? Deno.connect(options) : Deno.connect(options);
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
    total += n;
  }
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total = chunks.reduce((sum, c) => sum + c.byteLength, 0)) {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function indexOfCrlfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.byteLength; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function parseResponse(raw: Uint8Array, what: string): EngineResponse {
  let start = 0;
  while (true) {
    const end = indexOfCrlfCrlf(raw, start);
    if (end < 0) throw new Error(`Cannot ${what}: connection closed before a full HTTP head`);
    const lines = decoder.decode(raw.subarray(start, end)).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!status) throw new Error(`Cannot ${what}: not an HTTP answer: ${JSON.stringify(lines[0])}`);
    const code = Number(status[1]);
    if (code >= 100 && code < 200) {
      start = end + 4; // interim answer such as 100 Continue
      continue;
    }
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    let body = raw.subarray(end + 4);
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) body = dechunk(body, what);
    else if (headers.has("content-length")) {
      body = body.subarray(0, Number(headers.get("content-length")));
    }
    return { status: code, headers, body, text: () => decoder.decode(body) };
  }
}

function dechunk(bytes: Uint8Array, what: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (true) {
    let lineEnd = offset;
    while (
      lineEnd + 1 < bytes.byteLength && !(bytes[lineEnd] === 13 && bytes[lineEnd + 1] === 10)
    ) {
      lineEnd++;
    }
    if (lineEnd + 1 >= bytes.byteLength) throw new Error(`Cannot ${what}: truncated chunked body`);
    const size = parseInt(decoder.decode(bytes.subarray(offset, lineEnd)).split(";")[0]!, 16);
    if (Number.isNaN(size)) throw new Error(`Cannot ${what}: bad chunk size`);
    if (size === 0) return concat(parts);
    const dataStart = lineEnd + 2;
    if (dataStart + size > bytes.byteLength) throw new Error(`Cannot ${what}: truncated chunk`);
    parts.push(bytes.subarray(dataStart, dataStart + size));
    offset = dataStart + size + 2;
  }
}

/**
 * Checks that a Docker engine answers `GET /_ping` with `200 OK` and body `OK`.
 *
 * @param host The engine address, in `DOCKER_HOST` syntax.
 * @param timeoutMs Milliseconds to wait for the whole answer.
 * @returns `true` when the engine answered as expected; `false` on any failure. Never throws.
 *
 * @example Probe the default socket
 * ```ts ignore
 * import { pingEngine } from "./_engine.ts";
 * if (!await pingEngine("unix:///var/run/docker.sock")) console.log("no engine");
 * ```
 */
export async function pingEngine(host: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await engineRequest(host, "/_ping", { timeoutMs });
    return response.status === 200 && response.text() === "OK";
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Private engine
// ---------------------------------------------------------------------------

/** A dockerd this process started; see {@linkcode startPrivateEngine}. */
export interface PrivateEngine {
  /** Address for clients, `unix://<dir>/docker.sock`. */
  host: string;
  /** Absolute directory holding the socket, data root, exec root and `dockerd.log`. */
  dir: string;
  /**
   * Stops the engine: removes all containers and networks and leaves any
   * swarm (network bridges would otherwise outlive the engine), SIGTERM to
   * dockerd (SIGKILL after 20 s), makes sure its containerd and shims are gone
   * and unmounts leftovers under `dir`. Leaves the files; idempotent.
   */
  stop(): Promise<void>;
  /** Same as {@linkcode PrivateEngine.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The repository's root directory (without a trailing slash). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** The repository's state directory (git-ignored): private engines, registry, sshd. */
export const STATE_DIR = join(REPO_ROOT, ".berth");

/** Where a private engine goes when the state directory's path is too long. */
export const TMP_DIR = Deno.env.get("TMPDIR") || "/tmp";

/**
 * The directory of this process's private engine for one tool:
 * `.berth/<name>-<pid>` in the repository, or `$TMPDIR/berth-<name>-<pid>`
 * when that path is too long for the engine's sockets (see
 * {@linkcode engineDirFits}). The test task removes such directories left
 * by runs that were killed.
 *
 * @param name `engine` (tests), `bench-engine` or `demo-engine`.
 * @returns The directory.
 */
export function privateEngineDir(name: string): string {
  const dir = join(STATE_DIR, `${name}-${Deno.pid}`);
  return engineDirFits(dir) ? dir : join(TMP_DIR, `berth-${name}-${Deno.pid}`);
}

/**
 * Checks that `dir` is short enough for the Unix sockets dockerd and
 * containerd create under it.
 *
 * @param dir Absolute engine directory.
 * @returns Whether every socket path fits the kernel's 107-byte limit.
 *
 * @example Check a directory
 * ```ts
 * import { engineDirFits } from "./_engine.ts";
 * if (!engineDirFits("/tmp/e")) throw new Error();
 * ```
 */
export function engineDirFits(dir: string): boolean {
  return encoder.encode(resolve(dir) + LONGEST_SOCKET_SUFFIX).byteLength <= MAX_SOCKET_PATH;
}

/**
 * Starts a private dockerd in `dir` (socket, data root, exec root, pid file
 * and `dockerd.log` all inside it; no bridge, no iptables, an empty config
 * file so that `/etc/docker/daemon.json` does not apply).
 *
 * Installs `docker.io` with apt-get when dockerd is missing and we are root.
 *
 * @param dir Directory to own; created if missing. Must be short enough for
 *   Unix socket paths (see {@linkcode engineDirFits}).
 * @returns The running engine.
 * @throws {RangeError} When `dir` is too long for the engine's sockets.
 * @throws {Error} When dockerd is missing and cannot be installed, or does not
 *   answer `_ping` within 60 s (the message carries the last 30 log lines).
 *
 * @example Start and stop an engine
 * ```ts ignore
 * import { startPrivateEngine } from "./_engine.ts";
 * await using engine = await startPrivateEngine("/tmp/berth-engine");
 * console.log(engine.host);
 * ```
 */
export async function startPrivateEngine(dir: string): Promise<PrivateEngine> {
  dir = resolve(dir);
  if (!engineDirFits(dir)) {
    throw new RangeError(
      `Cannot start a private engine in "${dir}": its sockets would pass ${MAX_SOCKET_PATH} bytes; use a shorter directory`,
    );
  }
  let dockerd = await findExecutable("dockerd");
  if (!dockerd && isRoot()) {
    await aptInstall(["docker.io"]);
    dockerd = await findExecutable("dockerd");
  }
  if (!dockerd) {
    throw new Error(
      "Cannot start a private engine: dockerd not found (apt-get install docker.io, as root)",
    );
  }

  await Deno.mkdir(dir, { recursive: true });
  for (const stale of ["docker.sock", "dockerd.pid"]) {
    await Deno.remove(join(dir, stale)).catch(() => {});
  }
  const configFile = join(dir, "daemon.json");
  await Deno.writeTextFile(configFile, "{}\n");
  const logPath = join(dir, "dockerd.log");
  const host = `unix://${dir}/docker.sock`;
  const child = spawnLogged(
    [
      dockerd,
      "--config-file",
      configFile,
      "--host",
      host,
      "--data-root",
      join(dir, "data"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "dockerd.pid"),
      "--bridge",
      "none",
      "--iptables=false",
    ],
    logPath,
    dir,
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await wipeEngine(host);
      signal(child.pid, "SIGTERM");
      if (!await exited(child, 20_000)) {
        log(`dockerd (pid ${child.pid}) ignored SIGTERM for 20 s; sending SIGKILL`);
        signal(child.pid, "SIGKILL");
        await exited(child, 5000);
      }
      // dockerd stops the containerd it spawned on a clean exit, not after SIGKILL.
      await terminate(findProcessesUnder(dir, ENGINE_PROCESS_NAMES), 5000);
      const stuck = await unmountUnder(dir);
      if (stuck.length) log(`still mounted under ${dir}: ${stuck.join(", ")}`);
    })();

  const deadline = Date.now() + 60_000;
  let running = true;
  child.status.then(() => running = false);
  while (!await pingEngine(host, 1000)) {
    if (!running || Date.now() > deadline) {
      const why = running ? "did not answer _ping within 60 s" : "exited";
      await stop();
      throw new Error(
        `Private engine in "${dir}" ${why}; last lines of ${logPath}:\n${await tail(logPath, 30)}`,
      );
    }
    await sleep(100);
  }
  return { host, dir, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Empties a private engine before it stops: removes every container (so that
 * dockerd does not wait out their stop timeouts), leaves the swarm, and
 * deletes every network but the predefined ones. Networks matter most: their
 * bridges are host interfaces that outlive dockerd and its data root, and
 * piling up over runs they would exhaust the address pools.
 * Best effort; never throws.
 */
async function wipeEngine(host: string): Promise<void> {
  const json = async <T>(path: string): Promise<T | undefined> => {
    const response = await engineRequest(host, path, { timeoutMs: 5000 });
    return response.status === 200 ? JSON.parse(response.text()) as T : undefined;
  };
  try {
    const containers = await json<{ Id: string }[]>("/containers/json?all=1") ?? [];
    await Promise.all(
      containers.map(({ Id }) =>
        engineRequest(host, `/containers/${Id}?force=1&v=1`, {
          method: "DELETE",
          timeoutMs: 10_000,
        })
          .catch(() => {})
      ),
    );
    const info = await json<{ Swarm?: { LocalNodeState?: string } }>("/info");
    const swarm = info?.Swarm?.LocalNodeState;
    if (swarm && swarm !== "inactive") {
      await engineRequest(host, "/swarm/leave?force=1", { method: "POST", timeoutMs: 20_000 });
    }
    const networks = await json<{ Id: string; Name: string }[]>("/networks") ?? [];
    for (const { Id, Name } of networks) {
      if (["bridge", "host", "none"].includes(Name)) continue;
      await engineRequest(host, `/networks/${Id}`, { method: "DELETE", timeoutMs: 10_000 })
        .catch(() => {});
    }
  } catch {
    // engine gone or hung: the caller's signals take over
  }
}

/**
 * Tears down whatever is left of a private engine directory — from this run
 * or from a run that was killed — and deletes it: empties the engine if it
 * still answers (containers, swarm, networks), SIGTERM (then SIGKILL) to
 * engine processes that name the directory, unmount everything under it, then
 * remove it.
 *
 * @param dir The engine directory.
 * @returns Resolves once the directory is gone.
 * @throws {Error} When something is still mounted under `dir` (it is then left
 *   in place rather than deleted through a mount).
 *
 * @example Remove a stale engine directory
 * ```ts ignore
 * import { removeEngineDir } from "./_engine.ts";
 * await removeEngineDir(".berth/engine-1234");
 * ```
 */
export async function removeEngineDir(dir: string): Promise<void> {
  dir = resolve(dir);
  const host = `unix://${dir}/docker.sock`;
  if (await pingEngine(host, 1000)) await wipeEngine(host);
  // dockerd first, so that it can stop its own containerd cleanly.
  await terminate(findProcessesUnder(dir, ["dockerd"]), 20_000);
  await terminate(findProcessesUnder(dir, ENGINE_PROCESS_NAMES), 5000);
  const stuck = await unmountUnder(dir);
  if (stuck.length) {
    throw new Error(`Cannot remove "${dir}": still mounted: ${stuck.join(", ")}`);
  }
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

// ---------------------------------------------------------------------------
// Test image
// ---------------------------------------------------------------------------

/** Whether the ELF file at `path` has no program interpreter (is statically linked). */
async function isStaticElf(path: string): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    return false;
  }
  if (bytes.byteLength < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[4] !== 2) {
    return false;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = bytes[5] === 1;
  const phoff = Number(view.getBigUint64(0x20, little));
  const phentsize = view.getUint16(0x36, little);
  const phnum = view.getUint16(0x38, little);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.byteLength) return false;
    if (view.getUint32(at, little) === 3) return false; // PT_INTERP: dynamically linked
  }
  return true;
}

async function findStaticBusybox(): Promise<string | undefined> {
  for (const path of ["/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox", "/sbin/busybox"]) {
    if (await isStaticElf(path)) return path;
  }
  return undefined;
}

/**
 * Makes sure the engine has the test image `berth-test/busybox:latest`
 * (labelled `berth.test=1`, `CMD ["/bin/sh"]`, `PATH=/bin`), importing it
 * from a statically linked busybox when it is missing — what
 * `docker import -c ... - berth-test/busybox:latest` does, over
 * `POST /images/create?fromSrc=-`. Installs `busybox-static` with apt-get
 * when needed and root.
 *
 * The image is a tar of `/bin/busybox` with a symlink per applet, `/etc/passwd`
 * and `/etc/group` with root, `/root` and a world-writable `/tmp`.
 *
 * @param host The engine address, in `DOCKER_HOST` syntax.
 * @returns The image name, `berth-test/busybox:latest`.
 * @throws {Error} When no static busybox can be found or installed, or the engine refuses the import.
 *
 * @example Prepare the image
 * ```ts ignore
 * import { ensureTestImage } from "./_engine.ts";
 * const image = await ensureTestImage("unix:///var/run/docker.sock");
 * ```
 */
export async function ensureTestImage(host: string): Promise<string> {
  const inspectPath = `/images/${TEST_IMAGE}/json`;
  if ((await engineRequest(host, inspectPath)).status === 200) return TEST_IMAGE;

  let busybox = await findStaticBusybox();
  if (!busybox && isRoot()) {
    await aptInstall(["busybox-static"]);
    busybox = await findStaticBusybox();
  }
  if (!busybox) {
    throw new Error(
      "Cannot build the test image: no statically linked busybox (apt-get install busybox-static, as root)",
    );
  }

  const work = await Deno.makeTempDir({ prefix: "berth-image-" });
  try {
    const root = join(work, "rootfs");
    for (const sub of ["bin", "etc", "root", "tmp"]) {
      await Deno.mkdir(join(root, sub), { recursive: true });
    }
    await Deno.copyFile(busybox, join(root, "bin", "busybox"));
    await Deno.chmod(join(root, "bin", "busybox"), 0o755);
    const applets = decoder.decode(await output(busybox, ["--list"])).split("\n").map((s) =>
      s.trim()
    );
    for (const applet of applets) {
      if (applet && applet !== "busybox" && !applet.includes("/")) {
        await Deno.symlink("busybox", join(root, "bin", applet));
      }
    }
    await Deno.writeTextFile(join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await Deno.writeTextFile(join(root, "etc", "group"), "root:x:0:\n");
    await Deno.chmod(join(root, "tmp"), 0o1777);
    await Deno.chmod(join(root, "root"), 0o700);
    const tar = await output("tar", [
      "--numeric-owner",
      "--owner=0",
      "--group=0",
      "-C",
      root,
      "-cf",
      "-",
      ".",
    ]);

    const [repo, tag] = TEST_IMAGE.split(":") as [string, string];
    const query = new URLSearchParams({ fromSrc: "-", repo, tag });
    for (
      const change of [
        'CMD ["/bin/sh"]',
        "ENV PATH=/bin",
        `LABEL ${TEST_LABEL.key}=${TEST_LABEL.value}`,
      ]
    ) {
      query.append("changes", change);
    }
    const response = await engineRequest(host, `/images/create?${query}`, {
      method: "POST",
      body: tar,
      headers: { "Content-Type": "application/x-tar" },
      timeoutMs: 120_000,
    });
    const text = response.text();
    if (response.status !== 200 || /"error(Detail)?"\s*:/.test(text)) {
      throw new Error(
        `Cannot import ${TEST_IMAGE}: engine answered ${response.status}: ${text.trim()}`,
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  const check = await engineRequest(host, inspectPath);
  if (check.status !== 200) {
    throw new Error(
      `Imported ${TEST_IMAGE} but inspecting it answered ${check.status}: ${check.text()}`,
    );
  }
  return TEST_IMAGE;
}

// The harness's other modules, re-exported so importers keep one entry point.
export * from "./_process.ts";
export * from "./_services.ts";
