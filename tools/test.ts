/**
 * Entry of `deno task test`: provides a real Docker engine, the test image and
 * an authenticated registry, runs `deno test` against them, cleans up, and
 * prints `N passed, N failed` as its last line.
 *
 * Engine choice: `DOCKER_HOST` if it answers `_ping`, else
 * `unix:///var/run/docker.sock` if it answers, else a private dockerd under
 * `.berth/engine-<pid>/`. A private engine is always used when
 * `BERTH_PRIVATE_ENGINE=1`, or when `CI` is set and we are root (destructive
 * and swarm tests need an engine of their own).
 *
 * Extra arguments go to `deno test` (flags and/or paths; by default every
 * test under `tests/` plus the runnable doc examples of `src/` and
 * `mod.ts`), e.g. `deno task test tests/integration/harness_test.ts` or
 * `deno task test --filter ping`.
 *
 * Environment for the tests: `BERTH_TEST_HOST`, `BERTH_TEST_IMAGE`,
 * `BERTH_TEST_PRIVATE` (`1`/`0`), `BERTH_TEST_REGISTRY` (`127.0.0.1:PORT`),
 * `BERTH_TEST_REGISTRY_USER`, `BERTH_TEST_REGISTRY_PASSWORD`,
 * `BERTH_TEST_REQUIRE_ENGINE=1`, and for `ssh://` tests a private sshd on
 * 127.0.0.1 whose forced command bridges to the engine:
 * `BERTH_TEST_SSH_HOST` (`ssh://USER@127.0.0.1:PORT`) and
 * `BERTH_TEST_SSH_ARGS` (JSON array of client arguments: key, known hosts).
 * Without sshd (not installed, not root) the ssh tests are skipped, except in
 * CI, where starting it must succeed.
 *
 * Knobs: `BERTH_TEST_TIMEOUT_SECONDS` (default 1200) bounds the `deno test`
 * run, so that a hung test fails the run instead of eating CI's budget.
 *
 * @module
 */

import { join, relative } from "node:path";
import {
  engineRequest,
  ensureTestImage,
  pingEngine,
  privateEngineDir,
  removeEngineDir,
  removeRegistryDir,
  removeSshdDir,
  REPO_ROOT,
  startPrivateEngine,
  startRegistry,
  startSshd,
  STATE_DIR,
  TEST_LABEL,
  type TestRegistry,
  type TestSshd,
  TMP_DIR,
} from "./_engine.ts";

const DEFAULT_SOCKET = "unix:///var/run/docker.sock";
const DEFAULT_TIMEOUT_SECONDS = 1200;

/** `deno test` flags that take their value as the next argument. */
const VALUE_FLAGS = new Set([
  "--filter",
  "--coverage-threshold",
  "--reporter",
  "--junit-path",
  "--retry",
  "--repeats",
  "--shard",
  "--related",
  "--ext",
  "--import-map",
  "--node-modules-linker",
  "-c",
  "--config",
  "--cert",
  "--min-dep-age",
  "--inspect-publish-uid",
  "--location",
  "--seed",
  "--preload",
  "--require",
  "--conditions",
]);

/** Whether the child's output so far ends mid-line (so that our lines start on their own). */
let midLine = false;

function log(message: string): void {
  console.error(`${midLine ? "\n" : ""}[berth test] ${message}`);
  midLine = false;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function flag(name: string): boolean {
  const value = Deno.env.get(name)?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false" &&
    value !== "no";
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------
// Cleanup, run once whichever way we leave
// ---------------------------------------------------------------------------

interface Cleanup {
  name: string;
  run: () => Promise<void>;
}

const cleanups: Cleanup[] = [];
/** Starts still under way; each stops what it started if cleanup began meanwhile. */
const starting = new Set<Promise<unknown>>();
let cleaning: Promise<void> | undefined;

function cleanupOnce(): Promise<void> {
  return cleaning ??= (async () => {
    while (cleanups.length) {
      const cleanup = cleanups.pop()!;
      const started = performance.now();
      try {
        await cleanup.run();
        log(`${cleanup.name}: done in ${seconds(started)}`);
      } catch (error) {
        log(`${cleanup.name}: failed: ${errorMessage(error)}`);
      }
    }
    await Promise.allSettled(starting);
  })();
}

/**
 * Runs a start (engine, registry) registering `cleanup` first, so that an
 * interrupt during the start still cleans up; if cleanup began while it was
 * starting, what it started is stopped at once.
 */
async function track<T>(
  cleanup: Cleanup,
  start: () => Promise<T>,
  stop: (value: T) => Promise<void>,
) {
  cleanups.push(cleanup);
  const promise = start();
  starting.add(promise);
  try {
    const value = await promise;
    if (cleaning) {
      await stop(value);
      throw new Error(`interrupted while starting ${cleanup.name}`);
    }
    cleanup.run = () => stop(value);
    return value;
  } finally {
    starting.delete(promise);
  }
}

let finished = false;

/** Cleans up, prints the closing line (nothing may follow it) and exits. */
async function finish(passed: number, failed: number, code: number): Promise<never> {
  await cleanupOnce();
  if (!finished) {
    finished = true;
    console.log(`${passed} passed, ${failed} failed`);
  }
  Deno.exit(code);
}

// ---------------------------------------------------------------------------
// Summary parsing
// ---------------------------------------------------------------------------

// deno: "ok | 12 passed (3 steps) | 0 failed (1s)"
//       "FAILED | 10 passed | 2 failed (1 step) | 1 ignored (3s)"
const SUMMARY =
  /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(.*)$/gm;

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Counts of top-level tests from deno's last summary line (steps are not counted). */
interface Summary {
  passed: number;
  failed: number;
  ignored: number;
}

function parseSummary(output: string): Summary | undefined {
  const matches = [...output.replace(ANSI, "").replaceAll("\r", "").matchAll(SUMMARY)];
  const last = matches.at(-1);
  if (!last) return undefined;
  return {
    passed: Number(last[2]),
    failed: Number(last[3]),
    ignored: Number(/\| (\d+) ignored/.exec(last[4] ?? "")?.[1] ?? 0),
  };
}

// ---------------------------------------------------------------------------
// Provisioning
// ---------------------------------------------------------------------------

/** Whether `pid` is a live process (a zombie is not: its dirs are as stale as a gone one's). */
function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/** Removes engine and registry directories left by harness runs that were killed. */
async function removeStaleDirs(): Promise<void> {
  const places: [string, RegExp][] = [
    // Engines of the test, bench and demo tasks; the test registry and sshd.
    [STATE_DIR, /^((?:bench-|demo-)?engine|registry|sshd)-(\d+)$/],
    [TMP_DIR, /^berth-((?:bench-|demo-)?engine|registry)-(\d+)$/],
  ];
  for (const [place, pattern] of places) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(place)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      const match = pattern.exec(entry.name);
      if (!match || !entry.isDirectory) continue;
      const pid = Number(match[2]);
      if (pid === Deno.pid || processAlive(pid)) continue;
      const dir = join(place, entry.name);
      log(`removing ${dir} left by an earlier run (pid ${pid} is gone)`);
      try {
        await (match[1]!.endsWith("engine")
          ? removeEngineDir(dir)
          : match[1] === "sshd"
          ? removeSshdDir(dir)
          : removeRegistryDir(dir));
      } catch (error) {
        log(`could not remove ${dir}: ${errorMessage(error)}`);
      }
    }
  }
}

interface Engine {
  host: string;
  private: boolean;
}

function sharedEngine(host: string): Engine {
  log(`using the engine at ${host} (shared: destructive tests should skip)`);
  cleanups.push({ name: "remove leftover test objects", run: () => removeLeftovers(host) });
  return { host, private: false };
}

async function provideEngine(): Promise<Engine> {
  const root = Deno.uid() === 0;
  const forcePrivate = flag("BERTH_PRIVATE_ENGINE") || (flag("CI") && root);
  if (!forcePrivate) {
    const dockerHost = Deno.env.get("DOCKER_HOST");
    if (dockerHost) {
      if (await pingEngine(dockerHost)) return sharedEngine(dockerHost);
      log(`DOCKER_HOST=${dockerHost} does not answer _ping`);
    }
    if (await pingEngine(DEFAULT_SOCKET)) return sharedEngine(DEFAULT_SOCKET);
    log(`no engine answers on ${dockerHost ? "DOCKER_HOST or " : ""}${DEFAULT_SOCKET}`);
  } else {
    log(flag("BERTH_PRIVATE_ENGINE") ? "BERTH_PRIVATE_ENGINE is set" : "CI as root");
  }

  const dir = privateEngineDir("engine");
  log(`starting a private engine in ${dir}`);
  const started = performance.now();
  const engine = await track(
    { name: `stop the private engine in ${dir}`, run: () => removeEngineDir(dir) },
    () => startPrivateEngine(dir),
    async (engine) => {
      await engine.stop();
      await removeEngineDir(dir);
    },
  );
  log(`private engine ready in ${seconds(started)} at ${engine.host}`);
  return { host: engine.host, private: true };
}

async function provideImage(host: string): Promise<string> {
  const started = performance.now();
  const image = await ensureTestImage(host);
  log(`test image ${image} ready in ${seconds(started)}`);
  return image;
}

async function provideRegistry(): Promise<TestRegistry> {
  const dir = join(STATE_DIR, `registry-${Deno.pid}`);
  const started = performance.now();
  const registry = await track(
    { name: "stop the test registry", run: () => removeRegistryDir(dir) },
    () => startRegistry(dir),
    async (registry) => {
      await registry.stop();
      await removeRegistryDir(dir);
    },
  );
  log(`registry ready in ${seconds(started)} at ${registry.address} (user ${registry.username})`);
  return registry;
}

/** Starts sshd in front of the engine; `undefined` (logged) when it cannot, outside CI. */
async function provideSshd(engineHost: string): Promise<TestSshd | undefined> {
  const dir = join(STATE_DIR, `sshd-${Deno.pid}`);
  const started = performance.now();
  try {
    const sshd = await track(
      { name: "stop the test sshd", run: () => removeSshdDir(dir) },
      () => startSshd(dir, engineHost),
      async (sshd) => {
        await sshd.stop();
        await removeSshdDir(dir);
      },
    );
    log(`sshd ready in ${seconds(started)} at ${sshd.host}`);
    return sshd;
  } catch (error) {
    if (flag("CI") || cleaning) throw error;
    log(`no sshd, ssh:// tests will be skipped: ${errorMessage(error)}`);
    return undefined;
  }
}

/** Removes containers, networks and volumes labelled `berth.test=1` from a shared engine. */
async function removeLeftovers(host: string): Promise<void> {
  const filters = encodeURIComponent(
    JSON.stringify({ label: [`${TEST_LABEL.key}=${TEST_LABEL.value}`] }),
  );
  const list = async <T>(path: string): Promise<T> => {
    const response = await engineRequest(host, path, { timeoutMs: 10_000 });
    if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}`);
    return JSON.parse(response.text()) as T;
  };
  const removed: string[] = [];
  const remove = async (kind: string, path: string, id: string) => {
    const response = await engineRequest(host, path, { method: "DELETE", timeoutMs: 30_000 });
    if (response.status < 300 || response.status === 404) removed.push(`${kind} ${id}`);
    else log(`could not remove ${kind} ${id}: ${response.status} ${response.text().trim()}`);
  };
  const containers = await list<{ Id: string; Names?: string[] }[]>(
    `/containers/json?all=1&filters=${filters}`,
  );
  for (const { Id, Names } of containers) {
    await remove(
      "container",
      `/containers/${Id}?force=1&v=1`,
      Names?.[0]?.replace(/^\//, "") ?? Id.slice(0, 12),
    );
  }
  const networks = await list<{ Id: string; Name: string }[]>(`/networks?filters=${filters}`);
  for (const { Id, Name } of networks) await remove("network", `/networks/${Id}`, Name);
  const volumes = await list<{ Volumes: { Name: string }[] | null }>(`/volumes?filters=${filters}`);
  for (const { Name } of volumes.Volumes ?? []) {
    await remove("volume", `/volumes/${encodeURIComponent(Name)}?force=1`, Name);
  }
  if (removed.length) {
    log(`removed ${removed.length} leftover test object(s): ${removed.join(", ")}`);
  }
}

// ---------------------------------------------------------------------------
// Running deno test
// ---------------------------------------------------------------------------

function testArgs(extra: string[]): string[] {
  let hasPath = false;
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i]!;
    if (arg === "--") break;
    if (VALUE_FLAGS.has(arg)) i++;
    else if (!arg.startsWith("-")) hasPath = true;
  }
  const at = (path: string) =>
    Deno.cwd() === REPO_ROOT ? path : relative(Deno.cwd(), join(REPO_ROOT, path));
  // By default: every test file, and the runnable examples in the library's
  // docs (`--doc`; examples marked `ts ignore` need an engine and are skipped).
  const paths = hasPath ? [] : ["--doc", at("tests") + "/", at("src") + "/", at("mod.ts")];
  // Modules run one after another (they share one engine). That is deno's
  // default; note that `--parallel=false` would NOT say so: deno 2.9 reads any
  // `--parallel` as "on".
  // Deno 2.9 runs tests WITHOUT the ops and resources sanitizers unless
  // asked (checked: a test leaking a timer and a socket passes without these
  // flags, fails with them). A leaked connection or timer is a failing test.
  const base = ["test", "--allow-all", "--sanitize-ops", "--sanitize-resources"];
  // Deno looks for deno.json from the working directory: run from outside
  // the repository, the doc examples' `@berth/docker` imports and the
  // compiler options would be missing. Name it, unless the caller did.
  const namesConfig = extra.some((arg) =>
    arg === "-c" || arg === "--config" || arg.startsWith("--config=")
  );
  if (!namesConfig) base.push("--config", at("deno.json"));
  const dashDash = extra.indexOf("--");
  if (dashDash < 0) return [...base, ...extra, ...paths];
  return [...base, ...extra.slice(0, dashDash), ...paths, ...extra.slice(dashDash)];
}

let child: Deno.ChildProcess | undefined;
const KEEP_OUTPUT = 1024 * 1024;

async function runTests(
  env: Record<string, string>,
): Promise<{ code: number; output: string; timedOut: boolean }> {
  const args = testArgs(Deno.args);
  log(`deno ${args.join(" ")}`);
  child = new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const running = child;

  let timeoutSeconds = Number(
    Deno.env.get("BERTH_TEST_TIMEOUT_SECONDS") ?? DEFAULT_TIMEOUT_SECONDS,
  );
  if (!(timeoutSeconds > 0)) {
    log(
      `ignoring BERTH_TEST_TIMEOUT_SECONDS (not a positive number); using ${DEFAULT_TIMEOUT_SECONDS}`,
    );
    timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  }
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    log(`deno test ran past ${timeoutSeconds} s (BERTH_TEST_TIMEOUT_SECONDS); stopping it`);
    try {
      running.kill("SIGTERM");
    } catch {
      // already gone
    }
    setTimeout(() => {
      try {
        running.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 5000);
  }, timeoutSeconds * 1000);

  let output = "";
  const tee = async (
    stream: ReadableStream<Uint8Array>,
    target: typeof Deno.stdout,
    keep: boolean,
  ) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      let offset = 0;
      while (offset < chunk.byteLength) offset += await target.write(chunk.subarray(offset));
      if (chunk.byteLength) midLine = chunk[chunk.byteLength - 1] !== 10;
      if (keep) {
        output += decoder.decode(chunk, { stream: true });
        if (output.length > 2 * KEEP_OUTPUT) output = output.slice(-KEEP_OUTPUT);
      }
    }
  };
  const [status] = await Promise.all([
    running.status,
    tee(running.stdout, Deno.stdout, true),
    tee(running.stderr, Deno.stderr, false),
  ]);
  clearTimeout(watchdog);
  child = undefined;
  return { code: status.code, output, timedOut };
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

let signals = 0;
let lastSignal = -Infinity;

function onSignal(name: Deno.Signal): void {
  // One Ctrl-C reaches us twice (from the terminal and forwarded by `deno task`): count it once.
  if (performance.now() - lastSignal < 500) return;
  lastSignal = performance.now();
  signals++;
  if (signals === 1) {
    log(`${name}: stopping the tests and cleaning up (send it twice more to abandon the cleanup)`);
    try {
      child?.kill(name === "SIGINT" ? "SIGINT" : "SIGTERM");
    } catch {
      // already gone
    }
    void finish(0, 1, 130);
  } else if (signals >= 3) {
    log(`abandoning the cleanup; remove ${STATE_DIR} by running the task again`);
    Deno.exit(130);
  } else {
    log("still cleaning up");
  }
}

async function main(): Promise<never> {
  for (const name of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(name, () => onSignal(name));
  }

  let env: Record<string, string>;
  try {
    await removeStaleDirs();
    // The registry does not need the engine: start both at once.
    const [engineAndImage, registryResult] = await Promise.allSettled([
      provideEngine().then(async (engine) => {
        const [image, sshd] = await Promise.all([
          provideImage(engine.host),
          provideSshd(engine.host),
        ]);
        return { engine, image, sshd };
      }),
      provideRegistry(),
    ]);
    if (engineAndImage.status === "rejected") throw engineAndImage.reason;
    if (registryResult.status === "rejected") throw registryResult.reason;
    const { engine, image, sshd } = engineAndImage.value;
    const registry = registryResult.value;
    env = {
      BERTH_TEST_HOST: engine.host,
      BERTH_TEST_IMAGE: image,
      BERTH_TEST_PRIVATE: engine.private ? "1" : "0",
      BERTH_TEST_REGISTRY: registry.address,
      BERTH_TEST_REGISTRY_USER: registry.username,
      BERTH_TEST_REGISTRY_PASSWORD: registry.password,
      BERTH_TEST_REQUIRE_ENGINE: "1",
    };
    if (sshd) {
      env.BERTH_TEST_SSH_HOST = sshd.host;
      env.BERTH_TEST_SSH_ARGS = JSON.stringify(sshd.args);
    }
  } catch (error) {
    log(
      signals
        ? "interrupted while providing the test engine"
        : `cannot provide the test engine: ${errorMessage(error)}`,
    );
    return await finish(0, 1, 1);
  }

  const started = performance.now();
  const { code, output, timedOut } = await runTests(env);
  log(`deno test exited with code ${code} after ${seconds(started)}`);

  const summary = parseSummary(output);
  if (!summary) {
    log(
      timedOut
        ? "deno test timed out before its summary"
        : signals
        ? "deno test was interrupted before its summary"
        : "deno test printed no summary (crashed or did not type-check)",
    );
    return await finish(0, 1, code || 1);
  }
  if (summary.ignored) log(`${summary.ignored} test(s) ignored`);
  let failed = summary.failed;
  if (code !== 0 && failed === 0) {
    log(`deno test exited with ${code} although its summary shows no failure; counting one`);
    failed = 1;
  }
  return await finish(summary.passed, failed, code !== 0 ? code : failed ? 1 : 0);
}

if (import.meta.main) {
  main().catch(async (error) => {
    log(`harness failed: ${error instanceof Error ? error.stack : error}`);
    await finish(0, 1, 1);
  });
}
