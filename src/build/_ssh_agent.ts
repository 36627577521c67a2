/**
 * A read-only relay to an SSH agent, for BuildKit's `RUN --mount=type=ssh`.
 * The build's requests are cut into agent messages (RFC draft
 * `draft-miller-ssh-agent`: a 4-byte length, a type byte, the contents);
 * listing identities and signing reach the agent, everything else (adding,
 * removing or locking keys, extensions) is answered `SSH_AGENT_FAILURE`
 * without reaching it, as the Docker CLI does. The build can use the keys,
 * never change them.
 *
 * @module
 */

import { Inbox } from "../http2/_buffers.ts";

/** Largest agent message either way (OpenSSH's own limit). */
const MAX_MESSAGE = 256 * 1024;
/** `SSH_AGENT_FAILURE`, as a whole message. */
const FAILURE = Uint8Array.of(0, 0, 0, 1, 5);
/** `SSH_AGENTC_REQUEST_IDENTITIES` and `SSH_AGENTC_SIGN_REQUEST`. */
const ALLOWED = new Set([11, 13]);

/** Why the relay stopped: the message goes to the engine, which shows it to the build. */
export class AgentRelayError extends Error {
  /** `"AgentRelayError"`. */
  override name = "AgentRelayError";
}

/** Bytes arriving in pieces, from which whole length-prefixed messages are taken. */
class MessageBuffer {
  /** Grows by doubling: joining on every piece would copy a message once per piece. */
  readonly #inbox = new Inbox();

  push(piece: Uint8Array): void {
    this.#inbox.push(piece);
  }

  /**
   * Takes the next whole message (its 4-byte length included), if it has come.
   *
   * @param who Who sent the bytes, for the error.
   * @returns The message (a copy), or `undefined` while it is incomplete.
   * @throws {AgentRelayError} For a message over 256 KiB or of length 0.
   */
  take(who: string): Uint8Array | undefined {
    const inbox = this.#inbox;
    if (inbox.length < 4) return undefined;
    // Big-endian u32 (`>>> 0` keeps a set top bit unsigned).
    const high = (inbox.peek(0) << 24) | (inbox.peek(1) << 16);
    const length = (high | (inbox.peek(2) << 8) | inbox.peek(3)) >>> 0;
    if (length === 0 || length > MAX_MESSAGE) {
      throw new AgentRelayError(`${who} sent an SSH agent message of ${length} bytes`);
    }
    if (inbox.length < 4 + length) return undefined;
    return inbox.take(4 + length);
  }

  get empty(): boolean {
    return this.#inbox.length === 0;
  }
}

/**
 * Relays one agent connection of the build: reads the build's bytes from
 * `requests`, answers each message through `answer`, in order.
 *
 * @param requests The build's side of the connection, in pieces.
 * @param socket The agent's Unix socket.
 * @param answer Sends bytes back to the build.
 * @throws {AgentRelayError} When the agent cannot be reached, closes
 *   early, or either side sends a malformed message.
 */
export async function relayAgent(
  requests: AsyncIterable<Uint8Array>,
  socket: string,
  answer: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  let agent: Deno.UnixConn | undefined;
  const fromBuild = new MessageBuffer();
  const fromAgent = new MessageBuffer();
  const scratch = new Uint8Array(16 * 1024);
  try {
    for await (const piece of requests) {
      fromBuild.push(piece);
      let message: Uint8Array | undefined;
      while ((message = fromBuild.take("the build")) !== undefined) {
        if (!ALLOWED.has(message[4]!)) {
          await answer(FAILURE);
          continue;
        }
        agent ??= await connect(socket);
        await writeAll(agent, message);
        let reply: Uint8Array | undefined;
        while ((reply = fromAgent.take("the SSH agent")) === undefined) {
          const n = await agent.read(scratch).catch((error) => {
            throw new AgentRelayError(`The SSH agent at ${socket} failed: ${describe(error)}`);
          });
          if (n === null) throw new AgentRelayError(`The SSH agent at ${socket} hung up`);
          fromAgent.push(scratch.subarray(0, n));
        }
        await answer(reply.slice());
      }
    }
    if (!fromBuild.empty) throw new AgentRelayError("The build sent a partial SSH agent message");
  } finally {
    try {
      agent?.close();
    } catch {
      // Already closed.
    }
  }
}

async function connect(socket: string): Promise<Deno.UnixConn> {
  try {
    return await Deno.connect({ transport: "unix", path: socket });
  } catch (error) {
    throw new AgentRelayError(`Cannot reach the SSH agent at ${socket}: ${describe(error)}`);
  }
}

async function writeAll(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  } catch (error) {
    throw new AgentRelayError(`The SSH agent failed: ${describe(error)}`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
