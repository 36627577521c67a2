/**
 * `ssh://` hosts against the real test engine, through a real OpenSSH
 * server the test task starts on 127.0.0.1 (`BERTH_TEST_SSH_HOST`, client
 * arguments in `BERTH_TEST_SSH_ARGS`); its only key has a forced command
 * that runs `docker system dial-stdio` against the test engine. Skipped when
 * the task could not start sshd, except in CI, where that is a failure.
 */

import assert from "node:assert/strict";
import {
  collectFrames,
  Docker,
  DockerConnectionError,
  type DockerOptions,
  type SshOptions,
} from "../../mod.ts";
import { TEST_LABELS, testEnv, testImage, text, withContainer } from "./_docker.ts";
import { isSet } from "./_env.ts";

const SSH_HOST = Deno.env.get("BERTH_TEST_SSH_HOST");
const SSH_ARGS: string[] = JSON.parse(Deno.env.get("BERTH_TEST_SSH_ARGS") ?? "[]");
const CI = isSet("CI");
const ignore = SSH_HOST === undefined && !CI;

const encoder = new TextEncoder();

/** A client on the test engine through ssh. */
function sshDocker(options: DockerOptions = {}): Docker {
  if (SSH_HOST === undefined) {
    throw new Error("BERTH_TEST_SSH_HOST is not set: in CI the test task must start sshd");
  }
  return new Docker({ host: SSH_HOST, ssh: { args: SSH_ARGS }, ...options });
}

/**
 * ssh options that run the real ssh through a shell that first appends a
 * line to `log`, so a test can count the processes berth started.
 */
function countingSsh(log: string): SshOptions {
  return {
    command: "sh",
    args: ["-c", `echo start >> '${log}'; exec ssh "$@"`, "ssh", ...SSH_ARGS],
  };
}

async function startsIn(log: string): Promise<number> {
  try {
    return (await Deno.readTextFile(log)).split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

Deno.test({
  name: "ssh:// pings, reads the version and lists containers of the engine behind sshd",
  ignore,
  async fn() {
    await using docker = sshDocker();
    assert.equal(await docker.system.ping(), "OK");
    await using local = new Docker({ host: testEnv().host });
    const [remote, direct] = await Promise.all([docker.system.version(), local.system.version()]);
    assert.equal(remote.Version, direct.Version);
    assert.equal(remote.ApiVersion, direct.ApiVersion);
    await withContainer(docker, { Cmd: ["true"] }, async (id) => {
      const listed = await docker.containers.list({ all: true, filters: { id: [id] } });
      assert.deepEqual(listed.map((c) => c.Id), [id]);
    });
  },
});

Deno.test({
  name: "ssh:// runs a container and reads its logs byte-exact, here and in a stream worker",
  ignore,
  async fn() {
    await using docker = sshDocker();
    // 256 lines of all byte values on stdout, one line on stderr.
    const script = 'i=0; while [ $i -lt 256 ]; do printf "line-$i\\n"; i=$((i+1)); done; ' +
      "head -c 65536 /bin/busybox; echo done >&2";
    await withContainer(docker, { Cmd: ["sh", "-c", script] }, async (id) => {
      await docker.containers.start(id);
      assert.equal((await docker.containers.wait(id)).StatusCode, 0);
      await using local = new Docker({ host: testEnv().host });
      const expected = await collectFrames(
        local.containers.logs(id, { stdout: true, stderr: true }),
      );
      for (const worker of [false, true]) {
        const got = await collectFrames(
          docker.containers.logs(id, { stdout: true, stderr: true, worker }),
        );
        assert.equal(got.stdout.length, expected.stdout.length, `worker: ${worker}`);
        assert.ok(got.stdout.every((b, i) => b === expected.stdout[i]), `worker: ${worker}`);
        assert.equal(text(got.stderr), "done\n");
        assert.ok(text(got.stdout).startsWith("line-0\nline-1\n"));
      }
    });
  },
});

Deno.test({
  name: "ssh:// attach round-trips stdin through cat (a hijack over ssh), half-close ends cat",
  ignore,
  async fn() {
    await using docker = sshDocker();
    const body = {
      Cmd: ["sh", "-c", "cat; echo after-eof"],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
    };
    await withContainer(docker, body, async (id) => {
      await using session = await docker.containers.attach(id, { stdin: true });
      await docker.containers.start(id);
      const input = new Uint8Array(256 + 512 * 1024);
      for (let i = 0; i < 256; i++) input[i] = i;
      for (let offset = 256; offset < input.length; offset += 65_536) {
        crypto.getRandomValues(input.subarray(offset, Math.min(offset + 65_536, input.length)));
      }
      const stdout: Uint8Array[] = [];
      const reading = (async () => {
        for await (const frame of session.readable) {
          if (frame.stream === "stdout") stdout.push(frame.data.slice());
        }
      })();
      const writer = session.writable.getWriter();
      for (let offset = 0; offset < input.length; offset += 65_536) {
        await writer.write(input.subarray(offset, offset + 65_536));
      }
      await writer.close(); // stdin EOF through ssh: cat ends, output keeps flowing
      await reading;
      const expected = concat([input, encoder.encode("after-eof\n")]);
      const got = concat(stdout);
      assert.equal(got.length, expected.length);
      assert.ok(got.every((byte, i) => byte === expected[i]), "stdout differs from stdin");
      assert.equal((await docker.containers.wait(id)).StatusCode, 0);
    });
  },
});

Deno.test({
  name: "ssh:// settles 50 concurrent calls on at most maxConnections ssh processes",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "berth-ssh-count-" });
    const log = `${dir}/starts`;
    try {
      await using docker = sshDocker({ maxConnections: 4, ssh: countingSsh(log) });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => i % 2 ? docker.system.ping() : docker.system.info()),
      );
      assert.equal(results.length, 50);
      assert.ok(results.every((r) => r === "OK" || typeof r === "object"));
      const starts = await startsIn(log);
      assert.ok(starts >= 1 && starts <= 4, `${starts} ssh processes for maxConnections 4`);
      // Later calls reuse the idle processes.
      for (let i = 0; i < 10; i++) await docker.system.ping();
      assert.equal(await startsIn(log), starts);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ssh:// with a key sshd does not know fails with DockerConnectionError carrying ssh's message",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "berth-ssh-key-" });
    try {
      const key = `${dir}/wrong_key`;
      const keygen = await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", key],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(keygen.success, new TextDecoder().decode(keygen.stderr));
      const index = SSH_ARGS.indexOf("-i");
      assert.ok(index !== -1, "BERTH_TEST_SSH_ARGS has no -i KEY");
      const args = SSH_ARGS.with(index + 1, key);
      await using docker = sshDocker({ ssh: { args }, connectTimeout: 20_000 });
      let error: unknown;
      try {
        await docker.system.ping();
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof DockerConnectionError, String(error));
      assert.equal(error.host, SSH_HOST);
      assert.match(error.message, /ssh exited with code 255: .*Permission denied \(publickey\)/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ssh:// with a socket path asks the remote CLI for that engine, the path quoted",
  ignore,
  async fn() {
    const engine = testEnv().host;
    assert.ok(engine.startsWith("unix://"), "the test engine is on a Unix socket");
    // A path the remote shell would split or expand unquoted.
    const dir = await Deno.makeTempDir({ prefix: "berth ssh 'path' $HOME " });
    try {
      const link = `${dir}/docker.sock`;
      await Deno.symlink(engine.slice("unix://".length), link);
      await using docker = sshDocker({ host: `${SSH_HOST}${encodeURI(link)}` });
      assert.equal(await docker.system.ping(), "OK");
      await using local = new Docker({ host: engine });
      assert.equal((await docker.system.version()).Version, (await local.system.version()).Version);

      // No engine at the path: the remote CLI's complaint comes back.
      await using lost = sshDocker({ host: `${SSH_HOST}${encodeURI(`${dir}/none.sock`)}` });
      const error = await lost.system.ping().then(() => undefined, (error: unknown) => error);
      assert.ok(error instanceof DockerConnectionError, String(error));
      assert.match(error.message, /none\.sock/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ssh:// BuildKit build reads its directory context through the session over ssh",
  ignore,
  async fn() {
    await using docker = sshDocker();
    const dir = await Deno.makeTempDir({ prefix: "berth-ssh-build-" });
    let imageId: string | undefined;
    try {
      const marker = crypto.randomUUID();
      await Deno.writeTextFile(`${dir}/Dockerfile`, `FROM ${testImage()}\nCOPY . /ctx\n`);
      await Deno.writeTextFile(`${dir}/marker.txt`, `${marker}\n`);
      const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251);
      await Deno.writeFile(`${dir}/data.bin`, data);
      let sent = 0;
      ({ imageId } = await docker.images.build(dir, {
        version: "2",
        networkMode: "none",
        labels: { ...TEST_LABELS },
        onProgress: (event) => {
          for (const status of event.buildkit?.statuses ?? []) {
            if (status.id.startsWith("transferring context")) sent = Math.max(sent, status.current);
          }
        },
      }));
      assert.ok(sent >= data.length, `the engine reported ${sent} context bytes`);
      const { exitCode, stdout } = await docker.containers.run(
        {
          Image: imageId,
          Cmd: ["sh", "-c", "cat /ctx/marker.txt && wc -c < /ctx/data.bin"],
          Labels: { ...TEST_LABELS },
        },
        { remove: true },
      );
      assert.equal(exitCode, 0);
      assert.equal(text(stdout).replace(/ +/g, ""), `${marker}\n${data.length}\n`);
    } finally {
      if (imageId) await docker.images.remove(imageId, { force: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
