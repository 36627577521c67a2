import assert from "node:assert/strict";
import { type Deadline, type DeadlineOwner, Deadlines } from "../../src/http/deadlines.ts";
import { TimerTracker } from "./_chaos.ts";

/** An owner that notes which of its deadlines passed, and when. */
function recorder(): DeadlineOwner & { expired: Deadline[]; at: number[] } {
  const expired: Deadline[] = [];
  const at: number[] = [];
  return {
    expired,
    at,
    deadlineExpired(deadline) {
      expired.push(deadline);
      at.push(performance.now());
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Deadlines fire once, never early, and not once cleared, whatever the clear order", async () => {
  const deadlines = new Deadlines();
  try {
    const owner = recorder();
    const start = performance.now();
    const a = deadlines.arm(40, owner);
    const b = deadlines.arm(40, owner);
    const c = deadlines.arm(40, owner);
    const d = deadlines.arm(40, owner);
    // Clearing from the middle moves the last one into its place.
    deadlines.clear(b);
    deadlines.clear(b); // twice is harmless
    deadlines.clear(undefined);
    assert.equal(b.index, -1);
    assert.deepEqual([a.index, d.index, c.index], [0, 1, 2]);
    deadlines.clear(a);
    await sleep(150);
    assert.deepEqual(new Set(owner.expired), new Set([c, d]));
    assert.equal(owner.expired.length, 2, "each fires once");
    for (const at of owner.at) assert.ok(at - start >= 40, `fired after ${at - start} ms`);
    assert.equal(c.index, -1);
    deadlines.clear(c); // after expiry: a no-op
  } finally {
    deadlines.close();
  }
});

Deno.test("Deadlines let an owner arm and clear others while being told", async () => {
  const deadlines = new Deadlines();
  try {
    const later = recorder();
    let rearmed: Deadline | undefined;
    const owner: DeadlineOwner = {
      deadlineExpired() {
        deadlines.clear(other);
        rearmed = deadlines.arm(20, later);
      },
    };
    deadlines.arm(20, owner);
    const other = deadlines.arm(500, later);
    await sleep(120);
    assert.ok(rearmed, "the first deadline fired");
    assert.deepEqual(later.expired, [rearmed], "the cleared one never fires; the new one does");
  } finally {
    deadlines.close();
  }
});

Deno.test("Deadlines.close forgets every deadline", async () => {
  const deadlines = new Deadlines();
  const owner = recorder();
  const deadline = deadlines.arm(10, owner);
  deadlines.close();
  assert.equal(deadline.index, -1);
  await sleep(40);
  assert.equal(owner.expired.length, 0);
});

Deno.test("Deadlines start no interval once closed: a deadline armed after close never fires", async () => {
  // Found by tests/http/chaos_test.ts: a body read after HttpClient.close
  // armed a body deadline, which restarted the interval (ticking for up to
  // 8 s at the default timeouts) after the client was closed.
  using timers = new TimerTracker();
  const deadlines = new Deadlines();
  deadlines.close();
  timers.closed = true;
  const owner = recorder();
  const deadline = deadlines.arm(10, owner);
  assert.deepEqual(timers.startedAfterClose, []);
  await sleep(40);
  assert.equal(owner.expired.length, 0);
  deadlines.clear(deadline);
});
