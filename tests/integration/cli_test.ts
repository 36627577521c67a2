import assert from "node:assert/strict";
import { testDocker, testEnv, testImage, uniqueName } from "./_docker.ts";
import { engineRequired } from "./_env.ts";

const CLI = new URL("../../examples/berth.ts", import.meta.url).pathname;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the example CLI as a subprocess against the test engine. */
async function berth(
  args: string[],
  stdin?: string,
  env: Record<string, string> = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, "--host", testEnv().host, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("berth CLI: run returns the container's exit code and output, --rm removes it", async () => {
  const name = uniqueName("cli");
  const result = await berth([
    "run",
    "--rm",
    "--name",
    name,
    testImage(),
    "sh",
    "-c",
    "echo out; echo err >&2; exit 3",
  ]);
  assert.equal(result.code, 3);
  assert.equal(result.stdout, "out\n");
  assert.equal(result.stderr, "err\n");
  await using docker = testDocker();
  assert.equal((await docker.containers.list({ all: true, filters: { name: [name] } })).length, 0);
});

Deno.test("berth CLI: engine failures exit 125 with one clean line; usage errors exit 2", async () => {
  const missing = await berth(["run", "--rm", `${uniqueName("noimage")}:1`, "true"]);
  assert.equal(missing.code, 125);
  assert.match(
    missing.stderr,
    /^berth: Cannot create a container: engine answered 404 Not Found: No such image/,
  );
  assert.equal(missing.stderr.trim().split("\n").length, 1);
  const unknown = await berth(["frobnicate"]);
  assert.equal(unknown.code, 2);
  const badFlag = await berth(["ps", "--nope"]);
  assert.equal(badFlag.code, 2);
  const noContainer = await berth(["logs", uniqueName("nobody")]);
  assert.equal(noContainer.code, 1);
  assert.match(noContainer.stderr, /No such container/);
});

Deno.test("berth CLI: ps, logs, exec with stdin and exit code, system df", async () => {
  await using docker = testDocker();
  const name = uniqueName("cli");
  const started = await berth([
    "run",
    "-d",
    "--name",
    name,
    testImage(),
    "sh",
    "-c",
    "echo ready; sleep 60",
  ]);
  assert.equal(started.code, 0);
  const id = started.stdout.trim();
  try {
    const ps = await berth(["ps"]);
    assert.equal(ps.code, 0);
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE/);
    assert.ok(ps.stdout.includes(name));
    for (let i = 0; i < 50 && !(await berth(["logs", id])).stdout.includes("ready"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await berth(["logs", id])).stdout, "ready\n");
    const cat = await berth(["exec", "-i", id, "cat"], "through stdin\n");
    assert.equal(cat.code, 0);
    assert.equal(cat.stdout, "through stdin\n");
    const failing = await berth(["exec", id, "sh", "-c", "exit 4"]);
    assert.equal(failing.code, 4);
    const df = await berth(["system", "df"]);
    assert.equal(df.code, 0);
    assert.match(df.stdout, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\nImages\s+\d+/);
  } finally {
    await docker.containers.remove(id || name, { force: true }).catch(() => {});
  }
});

Deno.test("berth CLI: build --buildkit --secret prints the steps like --progress=plain", async () => {
  await using docker = testDocker();
  const name = `${uniqueName("cli-build")}:1`;
  const dir = await Deno.makeTempDir({ prefix: "berth-cli-build-" });
  try {
    await Deno.writeTextFile(
      `${dir}/Dockerfile`,
      // The marker keeps the step out of the build cache.
      `FROM ${testImage()}\nRUN --mount=type=secret,id=word echo one && echo two >&2 && ` +
        `cat /run/secrets/word # ${crypto.randomUUID()}\n`,
    );
    await Deno.writeTextFile(`${dir}/word.txt`, "partial");
    const result = await berth([
      "build",
      "--buildkit",
      "--secret",
      `id=word,src=${dir}/word.txt`,
      "--network",
      "none",
      "-t",
      name,
      dir,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    const run = lines.find((line) =>
      / \[2\/2\] RUN --mount=type=secret,id=word echo one/.test(line)
    );
    assert.ok(run, result.stdout);
    const step = run.split(" ")[0]!;
    const output = lines.filter((line) => line.startsWith(`${step} `)).map((line) =>
      line.slice(step.length + 1).replace(/^\d+\.\d{3} /, "")
    );
    assert.deepEqual(output.slice(1, 4).sort(), ["one", "partial", "two"]);
    assert.match(output[4]!, /^DONE \d+\.\ds$/);
    assert.ok(!result.stdout.includes("moby."), result.stdout);
    assert.match(result.stdout, new RegExp(`Built sha256:[0-9a-f]{64} as ${name}\n$`));
  } finally {
    await docker.images.remove(name, { force: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "berth CLI: push and pull use the Docker config's credentials for a private registry",
  ignore: testEnv().registry === undefined && !engineRequired(),
  async fn() {
    const registry = testEnv().registry!;
    await using docker = testDocker();
    const config = await Deno.makeTempDir({ prefix: "berth-cli-config-" });
    const repository = `${registry.address}/berth-test/${uniqueName("cli")}`;
    const target = `${repository}:1`;
    try {
      const auth = btoa(`${registry.username}:${registry.password}`);
      await Deno.writeTextFile(
        `${config}/config.json`,
        JSON.stringify({ auths: { [registry.address]: { auth } } }),
      );
      await docker.images.tag(testImage(), repository, { tag: "1" });
      const env = { DOCKER_CONFIG: config };
      const pushed = await berth(["push", target], undefined, env);
      assert.equal(pushed.code, 0, pushed.stderr);
      await docker.images.remove(target);
      const pulled = await berth(["pull", target], undefined, env);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(pulled.stdout, new RegExp(`${target.replaceAll(".", "\\.")}: pulled\\n$`));
      assert.equal(
        (await docker.images.inspect(target)).Id,
        (await docker.images.inspect(testImage())).Id,
      );
      // Without the config, the registry refuses: one line, exit code 1.
      await docker.images.remove(target);
      const refused = await berth(["pull", target], undefined, {
        DOCKER_CONFIG: `${config}/none`,
      });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /no basic auth credentials/);
      assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    } finally {
      await docker.images.remove(target, { force: true }).catch(() => {});
      await Deno.remove(config, { recursive: true });
    }
  },
});

Deno.test("berth CLI: build -o writes the files, as a directory or a tar on stdout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-cli-output-" });
  try {
    await Deno.writeTextFile(
      `${dir}/Dockerfile`,
      `FROM ${testImage()}\nRUN echo from-the-build > /made # ${crypto.randomUUID()}\n`,
    );
    const common = ["build", "--buildkit", "--network", "none"];
    const local = await berth([...common, "-o", `${dir}/out`, dir]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/out/made`), "from-the-build\n");
    assert.match(local.stdout, /Wrote the local output to .*\/out\n$/);

    // With the tar on stdout, the progress goes to stderr.
    const tar = await berth([...common, "-o", "type=tar,dest=-", dir]);
    assert.equal(tar.code, 0, tar.stderr);
    assert.match(tar.stderr, /exporting to client/);
    assert.ok(tar.stdout.includes("made\0"), "the archive names the file");
    assert.ok(tar.stdout.includes("from-the-build\n"));

    const usage = await berth([...common, "-o", "type=zip,dest=x", dir]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Bad --output "type=zip,dest=x"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
