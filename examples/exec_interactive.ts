/**
 * An interactive shell in a container, like `docker exec -it`: the local
 * terminal is put in raw mode, keys go to the shell's TTY, its output comes
 * back, and resizing the window resizes the remote TTY (SIGWINCH). The
 * terminal is restored whatever happens. Without a container name a
 * throwaway container is started from `busybox:latest` (or the image in
 * `BERTH_EXAMPLE_IMAGE`) and removed at the end.
 *
 * ```sh
 * deno run --allow-all examples/exec_interactive.ts [container] [command...]
 * # e.g. examples/exec_interactive.ts web sh -l
 * ```
 *
 * With stdin not a terminal (a pipe), it still works, without raw mode or
 * resizing: `echo 'uname -a; exit' | deno run -A examples/exec_interactive.ts`.
 *
 * @module
 */

import { Docker } from "../mod.ts";

const [containerArg, ...cmdArgs] = Deno.args;
const command = cmdArgs.length ? cmdArgs : ["sh"];
const image = Deno.env.get("BERTH_EXAMPLE_IMAGE") ?? "busybox:latest";
const interactive = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();

await using docker = new Docker();

// A container to run in: the one named, or a throwaway one.
let container = containerArg;
let throwaway: string | undefined;
if (!container) {
  const { Id } = await docker.containers.create({
    Image: image,
    Cmd: ["sleep", "3600"],
    Labels: { "berth.example": "exec_interactive" },
  });
  throwaway = container = Id;
  await docker.containers.start(Id);
}

let exitCode = 1;
let rawMode = false;
let onResize: (() => void) | undefined;
try {
  const { Id } = await docker.exec.create(container, {
    Cmd: command,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: interactive,
    Env: ["TERM=" + (Deno.env.get("TERM") ?? "xterm")],
  });
  const size = interactive ? Deno.consoleSize() : undefined;
  await using session = await docker.exec.start(Id, {
    tty: interactive,
    ...(size ? { consoleSize: [size.rows, size.columns] as [number, number] } : {}),
  });

  if (interactive) {
    // Raw: every key (Ctrl-C, arrows, Tab) goes to the remote TTY, which echoes.
    Deno.stdin.setRaw(true);
    rawMode = true;
    onResize = () => {
      const { rows, columns } = Deno.consoleSize();
      session.resize(rows, columns).catch(() => {/* the exec may have ended */});
    };
    Deno.addSignalListener("SIGWINCH", onResize);
  }

  // Keys → stdin of the process; EOF on a pipe half-closes the socket.
  // The read of the local stdin cannot be interrupted, so it is not awaited:
  // the script exits explicitly below once the output has ended.
  Deno.stdin.readable.pipeTo(session.writable).catch(() => {/* output ended first */});

  // Output → local terminal, until the process exits.
  for await (const frame of session.readable) {
    const out = frame.stream === "stderr" ? Deno.stderr : Deno.stdout;
    for (let data = frame.data; data.length > 0;) data = data.subarray(await out.write(data));
  }

  // The engine records the exit code a moment after the output ends.
  for (let tries = 0; tries < 100; tries++) {
    const { Running, ExitCode } = await docker.exec.inspect(Id);
    if (!Running && typeof ExitCode === "number") {
      exitCode = ExitCode;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
} finally {
  if (onResize) Deno.removeSignalListener("SIGWINCH", onResize);
  if (rawMode) Deno.stdin.setRaw(false);
  if (throwaway) await docker.containers.remove(throwaway, { force: true });
}
await docker.close();
// A pending read of the local stdin would keep the process alive.
Deno.exit(exitCode);
