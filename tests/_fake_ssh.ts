/**
 * A stand-in for `ssh … -- host docker system dial-stdio`, for unit tests:
 * run as `deno run -A tests/_fake_ssh.ts --mode=M --log=FILE
 * [--socket=PATH] <ssh arguments>`; berth's `ssh: { command, args }` option
 * points at it. Every start appends its ssh arguments (a JSON array) to the
 * log file. Modes:
 *
 * - `connect`: bridges stdin/stdout to the Unix socket `--socket`, like
 *   dial-stdio (stdin EOF half-closes the socket; socket EOF ends the process);
 * - `deny`: prints `Permission denied (publickey).` on stderr, exits 255;
 * - `hang`: prints nothing and never exits on its own;
 * - `chatty`: prints a banner on stdout (not HTTP), then waits.
 *
 * @module
 */

const options: Record<string, string> = {};
const sshArgs: string[] = [];
for (const arg of Deno.args) {
  const match = /^--(mode|log|socket)=(.*)$/.exec(arg);
  if (match && sshArgs.length === 0) options[match[1]!] = match[2]!;
  else sshArgs.push(arg);
}

if (options.log) {
  await Deno.writeTextFile(options.log, JSON.stringify(sshArgs) + "\n", { append: true });
}

async function writeAll(target: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  let offset = 0;
  while (offset < bytes.length) offset += await target.write(bytes.subarray(offset));
}

const encoder = new TextEncoder();

switch (options.mode) {
  case "deny":
    await writeAll(Deno.stderr, encoder.encode("Permission denied (publickey).\r\n"));
    Deno.exit(255);
    break;
  case "hang":
    await new Promise((resolve) => setTimeout(resolve, 3_600_000));
    break;
  case "chatty":
    await writeAll(Deno.stdout, encoder.encode("Welcome to the machine!\n"));
    await new Promise((resolve) => setTimeout(resolve, 3_600_000));
    break;
  default: {
    const conn = await Deno.connect({ transport: "unix", path: options.socket! });
    (async () => {
      for await (const chunk of Deno.stdin.readable) await writeAll(conn, chunk);
      await conn.closeWrite();
    })().catch(() => {});
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        await writeAll(Deno.stdout, buffer.subarray(0, n));
      }
    } catch {
      // The socket or stdout broke: like dial-stdio, just end.
    }
    Deno.exit(0);
  }
}
