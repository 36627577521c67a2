/**
 * Stream workers in a process with too few permissions, which only a
 * separate process shows. A worker whose module cannot load makes Deno
 * print `error: Uncaught (in worker …)` to stderr whatever the `error`
 * handler does, so the pool checks the permissions a worker needs before
 * it starts one, and fails the stream with a `DockerError` that names the
 * flag. No engine is needed: the check comes before any connection.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
/** berth's `src` directory as the `--allow-read` flag takes it. */
const SOURCE = new URL("src", ROOT).pathname;

interface Run {
  /** What the script printed, one JSON value a line. */
  lines: unknown[];
  stderr: string;
}

/** Runs `body` (after the imports every script gets) with exactly `flags`. */
async function run(dir: string, flags: string[], body: string): Promise<Run> {
  const script = `${dir}/script.ts`;
  await Deno.writeTextFile(
    script,
    `import { Docker } from ${JSON.stringify(new URL("mod.ts", ROOT).href)};
import { WorkerPool, workerLoadProblem } from ${
      JSON.stringify(new URL("src/worker/pool.ts", ROOT).href)
    };
const host = ${JSON.stringify(`unix://${dir}/docker.sock`)};
const report = (error: unknown) =>
  console.log(JSON.stringify({ name: (error as Error).name, message: (error as Error).message }));
${body}
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-lock", "--no-config", ...flags, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const stdout = new TextDecoder().decode(output.stdout).trim();
  return { lines: stdout.split("\n").map((line) => JSON.parse(line)), stderr };
}

/** A stream in a worker through the public API, and a session straight from the pool. */
const STREAM_AND_SESSION = `
const docker = new Docker({ host, workers: { size: 1 } });
try {
  for await (const _ of docker.system.events()) break;
  console.log(JSON.stringify({ name: "none" }));
} catch (error) {
  report(error);
}
await docker.close();
const pool = new WorkerPool({ size: 1, host });
const request = { method: "POST", target: "/v1.41/containers/x/attach", action: "attach", upgrade: "tcp" };
await pool.session(Promise.resolve(request), { kind: "frames", tty: false }).catch(report);
console.log(JSON.stringify({ workers: pool.workers }));
pool.close();
`;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-worker-perm-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("WorkerPool without read access to berth's files: the stream and the session fail with a DockerError naming --allow-read, and Deno prints nothing", async () => {
  await withDir(async (dir) => {
    const { lines, stderr } = await run(dir, [], STREAM_AND_SESSION);
    assert.doesNotMatch(stderr, /Uncaught/);
    assert.equal(stderr, "");
    const expected =
      `Cannot start a stream worker: Deno lacks read access to berth's files in ${SOURCE}. ` +
      `berth is imported from a local path, so a worker loads its module ` +
      `(${SOURCE}/worker/worker.ts) and that module's imports from there; ` +
      `run with --allow-read=${SOURCE}, ` +
      "or run the stream on the main thread (`worker: false`, or no `workers` option)";
    assert.deepEqual(lines, [
      { name: "DockerError", message: expected },
      { name: "DockerError", message: expected },
      { workers: 0 },
    ]);
  });
});

Deno.test("WorkerPool with a --deny-read inside berth's files says so instead of starting a worker", async () => {
  await withDir(async (dir) => {
    const flags = [`--allow-read=${SOURCE}`, `--deny-read=${SOURCE}/api/_responses.ts`];
    const { lines, stderr } = await run(dir, flags, STREAM_AND_SESSION);
    assert.doesNotMatch(stderr, /Uncaught/);
    const first = lines[0] as { name: string; message: string };
    assert.equal(first.name, "DockerError");
    assert.match(first.message, /lacks read access to some of berth's files \(a --deny-read/);
  });
});

Deno.test("WorkerPool with read access to berth's files starts the worker, which reports the engine's own permissions", async () => {
  await withDir(async (dir) => {
    const { lines, stderr } = await run(dir, [`--allow-read=${SOURCE}`], STREAM_AND_SESSION);
    assert.doesNotMatch(stderr, /Uncaught/);
    const socket = `${dir}/docker.sock`;
    const first = lines[0] as { name: string; message: string };
    // The worker loaded, then connected: the socket's flags are what is missing.
    assert.equal(first.name, "DockerConnectionError", first.message);
    assert.match(first.message, new RegExp(`run with --allow-read=${socket} --allow-write=`));
    assert.deepEqual(lines[2], { workers: 1 });
  });
});

Deno.test("workerLoadProblem: a remote worker module needs import access to its host, which Deno grants jsr.io:443 by default", async () => {
  await withDir(async (dir) => {
    const body = `
const module = new URL("https://jsr.io/@berth/docker/0.1.0/src/worker/worker.ts");
console.log(JSON.stringify(workerLoadProblem(module, new URL("./", module)) ?? null));
`;
    const narrowed = await run(dir, ["--allow-import=example.com:443"], body);
    assert.equal(
      narrowed.lines[0],
      "Cannot start a stream worker: Deno lacks import access to jsr.io:443. " +
        "berth is imported from https://jsr.io, so a worker loads its module " +
        "(https://jsr.io/@berth/docker/0.1.0/src/worker/worker.ts) from there when it starts; " +
        "run with --allow-import=jsr.io:443, " +
        "or run the stream on the main thread (`worker: false`, or no `workers` option)",
    );
    // Deno's default --allow-import list has jsr.io:443.
    assert.deepEqual((await run(dir, [], body)).lines, [null]);
  });
});

Deno.test("WorkerPool: a worker module that fails to load fails the stream with a message without terminal colours", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad_worker.ts`, 'import "./missing.ts";\n');
    const body = `
const pool = new WorkerPool({ size: 1, host, workerModule: new URL(${
      JSON.stringify(`file://${dir}/bad_worker.ts`)
    }) });
const request = { method: "GET", target: "/v1.41/events", action: "stream engine events" };
try {
  for await (const _ of pool.stream(Promise.resolve(request), { kind: "json" })) break;
} catch (error) {
  report(error);
}
pool.close();
`;
    // Deno prints this failure itself (it cannot be foreseen): only the message is checked.
    const { lines } = await run(dir, ["--allow-read"], body);
    const { name, message } = lines[0] as { name: string; message: string };
    assert.equal(name, "DockerError");
    assert.match(message, /^A stream worker failed: Module not found ".*missing\.ts"/);
    assert.equal(message.includes("\u001b"), false, message);
  });
});
