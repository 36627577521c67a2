/**
 * Connect failures that only a separate process shows: Deno permissions
 * missing (`NotCapable`) and a socket the user may not open (`EACCES`).
 * Each case runs a small script that connects through `new Docker()` and
 * prints the error it got.
 *
 * As root a socket's mode does not stop a connect, so the EACCES case runs
 * its script as `nobody` (with `setpriv`), from a copy of berth that
 * `nobody` can read.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

interface Outcome {
  name: string;
  message: string;
  cause: string;
}

/**
 * Runs a script that pings `host` (the client's default when `undefined`)
 * with the given permission flags and returns the error it reports.
 */
async function pingFrom(
  dir: string,
  host: string | undefined,
  flags: string[],
  options: {
    asNobody?: boolean;
    modUrl?: string;
    env?: Record<string, string>;
    /** Read an events stream in a stream worker instead of pinging. */
    worker?: boolean;
  } = {},
): Promise<Outcome> {
  const script = `${dir}/ping.ts`;
  const modUrl = options.modUrl ?? new URL("mod.ts", ROOT).href;
  const hostOption = host === undefined ? "" : `host: ${JSON.stringify(host)}, `;
  await Deno.writeTextFile(
    script,
    `import { Docker } from ${JSON.stringify(modUrl)};
const docker = new Docker({ ${hostOption}apiVersion: "1.41" });
try {
  ${
      options.worker
        ? "await docker.system.events({ worker: true }).getReader().read();"
        : "await docker.system.ping();"
    }
  console.log(JSON.stringify({ name: "none", message: "", cause: "" }));
} catch (error) {
  console.log(JSON.stringify({
    name: error.name,
    message: error.message,
    cause: error.cause?.constructor?.name ?? "",
  }));
} finally {
  await docker.close();
}
`,
  );
  await Deno.chmod(script, 0o644);
  const deno = [
    Deno.execPath(),
    "run",
    "--no-prompt",
    "--no-lock",
    "--no-config",
    ...flags,
    script,
  ];
  const [command, ...args] = options.asNobody
    ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...deno]
    : deno;
  const env: Record<string, string> = { ...options.env, NO_COLOR: "1" };
  if (options.asNobody) {
    // nobody's own home does not exist: a module cache it may write to.
    env.DENO_DIR = `${dir}/deno-dir`;
    env.HOME = dir;
  }
  const output = await new Deno.Command(command!, {
    args,
    env,
    clearEnv: options.asNobody ?? false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return JSON.parse(stdout) as Outcome;
}

/** A temp dir everyone may enter, and a listening socket in it. */
async function listening(): Promise<{ dir: string; path: string; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "berth-perm-" });
  await Deno.chmod(dir, 0o777);
  const path = `${dir}/engine.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  return {
    dir,
    path,
    async close() {
      listener.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a Unix socket without Deno's net permission: DockerConnectionError naming all three flags", async () => {
  const engine = await listening();
  try {
    const outcome = await pingFrom(engine.dir, `unix://${engine.path}`, ["--allow-read"]);
    assert.equal(outcome.name, "DockerConnectionError", outcome.message);
    assert.equal(outcome.cause, "NotCapable");
    assert.ok(
      outcome.message.includes(
        `Deno lacks permission: run with --allow-read=${engine.path} --allow-write=${engine.path} --allow-net=unix:${engine.path}`,
      ),
      outcome.message,
    );
  } finally {
    await engine.close();
  }
});

Deno.test("a TCP host without Deno's net permission: DockerConnectionError naming --allow-net=host:port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-perm-" });
  try {
    const outcome = await pingFrom(dir, "tcp://127.0.0.1:2375", ["--allow-read"]);
    assert.equal(outcome.name, "DockerConnectionError", outcome.message);
    assert.equal(outcome.cause, "NotCapable");
    assert.match(outcome.message, /run with --allow-net=127\.0\.0\.1:2375/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const DEFAULT_SOCKET = "/var/run/docker.sock";
const UNREAD = "(DOCKER_HOST was not read: run with --allow-env=DOCKER_HOST to use it)";

/** Whether the default socket path exists here (then a default client could connect). */
function defaultSocketExists(): boolean {
  try {
    Deno.lstatSync(DEFAULT_SOCKET);
    return true;
  } catch {
    return false;
  }
}

// The default socket is fixed at /var/run/docker.sock. Without any flag the
// connect fails with NotCapable before the path is looked at, so this case
// holds whether or not a daemon runs here.
Deno.test("new Docker() without --allow-env: a connect failure says DOCKER_HOST was not read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-perm-" });
  try {
    const env = { DOCKER_HOST: `unix://${dir}/elsewhere.sock` };
    const outcome = await pingFrom(dir, undefined, [], { env });
    assert.equal(outcome.name, "DockerConnectionError", outcome.message);
    assert.equal(outcome.cause, "NotCapable");
    assert.equal(
      outcome.message,
      `Cannot connect to the Docker engine at unix://${DEFAULT_SOCKET}: Deno lacks permission: run with --allow-read=${DEFAULT_SOCKET} --allow-write=${DEFAULT_SOCKET} --allow-net=unix:${DEFAULT_SOCKET} ${UNREAD}`,
    );
    // DOCKER_HOST readable (here empty, so unset): nothing to add.
    const read = await pingFrom(dir, undefined, ["--allow-env=DOCKER_HOST"], {
      env: { DOCKER_HOST: "" },
    });
    assert.equal(read.name, "DockerConnectionError", read.message);
    assert.equal(read.message.includes("DOCKER_HOST"), false, read.message);
    // An explicit host: DOCKER_HOST plays no part.
    const explicit = await pingFrom(dir, `unix://${dir}/missing.sock`, [], { env });
    assert.equal(explicit.message.includes("DOCKER_HOST"), false, explicit.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "new Docker() without --allow-env: a missing default socket says DOCKER_HOST was not read",
  // With a daemon on the default socket this client would connect.
  ignore: defaultSocketExists(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "berth-perm-" });
    try {
      const flags = ["read", "write"].map((kind) => `--allow-${kind}=${DEFAULT_SOCKET}`);
      flags.push(`--allow-net=unix:${DEFAULT_SOCKET}`);
      const outcome = await pingFrom(dir, undefined, flags, {
        env: { DOCKER_HOST: `unix://${dir}/elsewhere.sock` },
      });
      assert.equal(outcome.name, "DockerConnectionError", outcome.message);
      assert.equal(outcome.cause, "NotFound");
      const missing =
        `Cannot connect to the Docker engine at unix://${DEFAULT_SOCKET}: the socket does not exist; is the engine running? ${UNREAD}`;
      assert.equal(outcome.message, missing);
      // A stream in a worker connects there, and says the same.
      const src = new URL("src", ROOT).pathname;
      const inWorker = await pingFrom(dir, undefined, [...flags, `--allow-read=${src}`], {
        env: { DOCKER_HOST: `unix://${dir}/elsewhere.sock` },
        worker: true,
      });
      assert.equal(inWorker.name, "DockerConnectionError", inWorker.message);
      assert.equal(inWorker.message, missing);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether this process can run a command as `nobody` (root with setpriv). */
function canRunAsNobody(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  try {
    return new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Copies mod.ts and src/ into `dir`, readable by everyone. */
async function copyBerth(dir: string): Promise<string> {
  const copy = async (from: URL, to: string) => {
    const info = await Deno.stat(from);
    if (info.isDirectory) {
      await Deno.mkdir(to, { mode: 0o755 });
      await Deno.chmod(to, 0o755);
      for await (const entry of Deno.readDir(from)) {
        await copy(
          new URL(`${entry.name}${entry.isDirectory ? "/" : ""}`, from),
          `${to}/${entry.name}`,
        );
      }
    } else {
      await Deno.copyFile(from, to);
      await Deno.chmod(to, 0o644);
    }
  };
  await copy(new URL("mod.ts", ROOT), `${dir}/mod.ts`);
  await copy(new URL("src/", ROOT), `${dir}/src`);
  return new URL(`file://${dir}/mod.ts`).href;
}

Deno.test({
  name: "a socket the user may not open (EACCES): DockerConnectionError about the docker group",
  // Root opens any socket: the script then runs as nobody, which needs setpriv.
  ignore: Deno.build.os !== "linux" || (Deno.uid() === 0 && !canRunAsNobody()),
  fn: async () => {
    const engine = await listening();
    try {
      await Deno.chmod(engine.path, 0o600);
      const asNobody = Deno.uid() === 0;
      const modUrl = asNobody ? await copyBerth(engine.dir) : undefined;
      if (asNobody) {
        await Deno.mkdir(`${engine.dir}/deno-dir`);
        await Deno.chmod(`${engine.dir}/deno-dir`, 0o777);
      }
      const outcome = await pingFrom(
        engine.dir,
        `unix://${engine.path}`,
        ["--allow-read", "--allow-write", "--allow-net"],
        modUrl ? { asNobody, modUrl } : {},
      );
      assert.equal(outcome.name, "DockerConnectionError", outcome.message);
      assert.equal(outcome.cause, "PermissionDenied");
      assert.match(
        outcome.message,
        /permission denied on the socket; add the user to the docker group or use the rootless socket/,
      );
      assert.ok(outcome.message.includes(`unix://${engine.path}`), outcome.message);
    } finally {
      await engine.close();
    }
  },
});
