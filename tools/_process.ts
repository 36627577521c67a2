/**
 * Process, package and mount helpers the test harness shares: finding and
 * installing executables, running commands, signalling what a daemon left
 * under its directory, unmounting.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";

const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Processes, packages, mounts
// ---------------------------------------------------------------------------

/**
 * Finds an executable on `PATH`, also looking in the `sbin` directories that a
 * non-login root shell may lack.
 *
 * @param name Executable name.
 * @returns Its absolute path, or `undefined`.
 *
 * @example Find dockerd
 * ```ts ignore
 * import { findExecutable } from "./_process.ts";
 * console.log(await findExecutable("dockerd"));
 * ```
 */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (
    const extra of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
  ) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

let aptQueue: Promise<void> = Promise.resolve();
let aptUpdated = false;

/**
 * Installs Debian packages with apt-get (running `apt-get update` once per
 * process first). Calls are serialised, so concurrent callers never fight
 * over the dpkg lock.
 *
 * @param packages Debian package names.
 * @returns Resolves when apt-get succeeded.
 * @throws {Error} When not root, or apt-get fails.
 *
 * @example Install busybox-static
 * ```ts ignore
 * import { aptInstall } from "./_process.ts";
 * await aptInstall(["busybox-static"]);
 * ```
 */
export function aptInstall(packages: string[]): Promise<void> {
  const run = aptQueue.then(async () => {
    if (!isRoot()) {
      throw new Error(
        `Cannot install ${
          packages.join(", ")
        }: not root; install them yourself (apt-get install -y ${packages.join(" ")})`,
      );
    }
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    if (!aptUpdated) {
      log(`apt-get update (to install ${packages.join(", ")})`);
      await runChecked("apt-get", ["-q", "update"], env);
      aptUpdated = true;
    }
    log(`apt-get install -y ${packages.join(" ")}`);
    await runChecked("apt-get", ["-q", "install", "-y", ...packages], env);
  });
  aptQueue = run.catch(() => {});
  return run;
}

export async function runChecked(cmd: string, args: string[], env: Record<string, string> = {}) {
  // Output goes to stderr so that stdout stays the test runner's.
  const child = new Deno.Command(cmd, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await writeAll(Deno.stderr, chunk);
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  if (!status.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${status.code}`);
  }
}

export async function output(cmd: string, args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const result = await child.output();
  if (!result.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed with exit code ${result.code}: ${
        decoder.decode(result.stderr).trim()
      }`,
    );
  }
  return result.stdout;
}

/** Harness log line, on stderr. */
export function log(message: string): void {
  console.error(`[berth test] ${message}`);
}

/** Whether `pid` is a live (not zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Pids of processes named one of `names` whose command line mentions `dir`. */
export function findProcessesUnder(dir: string, names: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
    } catch {
      continue;
    }
    if (!names.includes(basename(argv[0] ?? ""))) continue;
    if (argv.some((arg) => arg === dir || arg.includes(`${dir}/`))) pids.push(Number(entry.name));
  }
  return pids;
}

/**
 * Sends SIGTERM to every pid, waits up to `graceMs` for them to go, then
 * SIGKILLs the rest and waits a little more.
 */
export async function terminate(pids: number[], graceMs: number): Promise<number[]> {
  for (const pid of pids) signal(pid, "SIGTERM");
  const until = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < until) await sleep(100);
  const stubborn = pids.filter(isAlive);
  for (const pid of stubborn) signal(pid, "SIGKILL");
  const killUntil = Date.now() + 5000;
  while (stubborn.some(isAlive) && Date.now() < killUntil) await sleep(50);
  return stubborn;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Mount points at or under `dir`, in the order /proc/self/mounts lists them. */
export function mountsUnder(dir: string): string[] {
  const text = Deno.readTextFileSync("/proc/self/mounts");
  return text.split("\n")
    .map((line) => line.split(" ")[1])
    .filter((field): field is string => field !== undefined)
    // /proc/mounts escapes space, tab, newline and backslash as octal.
    .map((field) =>
      field.replace(/\\([0-7]{3})/g, (_, oct) => String.fromCharCode(parseInt(oct, 8)))
    )
    .filter((mount) => mount === dir || mount.startsWith(`${dir}/`));
}

/**
 * Unmounts everything mounted at or under `dir`, innermost (latest) first;
 * falls back to a lazy unmount for a busy mount.
 *
 * @param dir Absolute directory.
 * @returns The mount points still present afterwards (normally none).
 *
 * @example Unmount leftovers of a data root
 * ```ts ignore
 * import { unmountUnder } from "./_process.ts";
 * const stuck = await unmountUnder("/tmp/engine/data");
 * if (stuck.length) console.log("still mounted:", stuck);
 * ```
 */
export async function unmountUnder(dir: string): Promise<string[]> {
  dir = resolve(dir);
  for (let pass = 0; pass < 3; pass++) {
    const mounts = mountsUnder(dir).reverse();
    if (mounts.length === 0) return [];
    for (const mount of mounts) {
      const status = await new Deno.Command("umount", {
        args: [mount],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (!status.success) {
        await new Deno.Command("umount", { args: ["-l", mount], stdout: "null", stderr: "null" })
          .output();
      }
    }
  }
  return mountsUnder(dir);
}

/** Last `count` lines of a text file, or a note that it cannot be read. */
export async function tail(path: string, count: number): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    return lines.slice(-count).join("\n");
  } catch (error) {
    return `(cannot read ${path}: ${error instanceof Error ? error.message : error})`;
  }
}

/** Spawns `argv` detached (own session: a terminal's Ctrl-C does not reach it) with output appended to `logPath`. */
export function spawnLogged(argv: string[], logPath: string, cwd: string): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null', "sh", logPath, ...argv],
    cwd,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Waits for the child to exit (reaping it) for at most `ms`; true when it did. */
export async function exited(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    child.status.then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return result;
}

/** Writes all of `bytes`. */
export async function writeAll(
  target: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await target.write(bytes.subarray(offset));
}

/**
 * A stop function for a daemon: SIGTERM, then SIGKILL if it has not exited
 * after 5 s. Calls after the first share its promise.
 *
 * @param child The daemon.
 * @returns The idempotent stop.
 */
export function stopOnce(child: Deno.ChildProcess): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    stopping ??= (async () => {
      signal(child.pid, "SIGTERM");
      if (!await exited(child, 5000)) {
        signal(child.pid, "SIGKILL");
        await exited(child, 5000);
      }
    })();
}
