// The socket-queue probe (src/radius/queue-probe.ts) against a real UDP socket on loopback: probes
// go out only while asked for, are recognised and consumed, and measure how long the kernel's
// receive queue held them (the event loop is blocked on purpose so datagrams really wait).
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';

import { QueueProbe } from '../../src/radius/queue-probe.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Keeps the event loop busy, as a CPU-starved server would be: datagrams queue in the kernel meanwhile. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/** A UDP socket on loopback, closed when the test ends. */
async function socket(t: Test): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())));
  return sock;
}

/** A started probe aimed at `port` on loopback, stopped when the test ends. */
async function probeAt(t: Test, port: number, opts: { lostAfterMs?: number } = {}): Promise<QueueProbe> {
  const probe = new QueueProbe({ target: { address: '127.0.0.1', port }, bindAddress: '127.0.0.1', ...opts });
  await probe.start();
  t.teardown(() => probe.stop());
  return probe;
}

/** A receiving socket whose datagrams go through the probe first, as RadiusServer.receive does. */
async function listener(t: Test) {
  const sock = await socket(t);
  const probe = await probeAt(t, sock.address().port);
  const seen = { probes: 0, others: [] as Buffer[], waitAtRead: [] as number[] };
  sock.on('message', (msg, rinfo) => {
    const now = performance.now();
    if (probe.take(msg, rinfo)) seen.probes++;
    else {
      seen.others.push(msg);
      seen.waitAtRead.push(probe.waitMs(now));
    }
  });
  return { sock, probe, seen };
}

t.test('idle: no probe is sent and the wait reads 0', async (t) => {
  const { probe, seen } = await listener(t);
  await sleep(50);
  t.equal(seen.probes, 0, 'nothing sent while nobody asked');
  t.equal(probe.waitMs(performance.now()), 0);
});

t.test('while active, probes circulate and are consumed; datagrams of the same size from elsewhere are not taken', async (t) => {
  const { sock, probe, seen } = await listener(t);
  probe.keepActive(performance.now(), 200);
  const other = await socket(t);
  other.send(Buffer.alloc(24, 7), sock.address().port, '127.0.0.1');
  await sleep(60);
  t.ok(seen.probes >= 5, `probes came back one after another (${seen.probes} in 60 ms)`);
  t.equal(seen.others.length, 1, 'a 24-byte datagram from another socket is not a probe');
  t.ok(probe.waitMs(performance.now()) < 50, 'with nothing queued the bound stays small');
  await sleep(250);
  const after = seen.probes;
  t.equal(probe.waitMs(performance.now()), 0, 'inactive again after the hold: 0');
  await sleep(50);
  t.equal(seen.probes, after, 'and no more probes are sent');
});

t.test('a datagram that waited behind a blocked event loop is measured as having waited at least that long', async (t) => {
  const { sock, probe, seen } = await listener(t);
  const nas = await socket(t);
  // Probing starts with a probe sent at once; the request queues behind it; the loop cannot read either for 40 ms.
  probe.keepActive(performance.now(), 2000);
  nas.send(Buffer.from('request'), sock.address().port, '127.0.0.1');
  const t0 = performance.now();
  block(40);
  t.ok(probe.waitMs(performance.now()) >= 40, 'while the probe is still queued, its age is the lower bound');
  for (let i = 0; i < 50 && seen.others.length === 0; i++) await sleep(5);
  t.equal(seen.others.length, 1, 'the datagram arrived');
  t.ok(seen.waitAtRead[0] >= 40, `read behind the probe: waited at least the 40 ms (${seen.waitAtRead[0].toFixed(1)} ms)`);
  t.ok(seen.waitAtRead[0] < performance.now() - t0 + 5, 'and not more than the time since it was sent');
  // Once the queue is empty again the next probes bring the measure back down.
  await sleep(30);
  t.ok(probe.waitMs(performance.now()) < 20, `back down after the queue emptied (${probe.waitMs(performance.now()).toFixed(1)} ms)`);
});

t.test('a short queue does not read as a long wait between probes', async (t) => {
  // The timer gap between two probes is not counted as waiting: a datagram read right away is fresh.
  const { sock, probe, seen } = await listener(t);
  probe.keepActive(performance.now(), 2000);
  const nas = await socket(t);
  for (let i = 0; i < 40; i++) {
    nas.send(Buffer.from(`r${i}`), sock.address().port, '127.0.0.1');
    await sleep(i % 3);
  }
  for (let i = 0; i < 50 && seen.others.length < 40; i++) await sleep(5);
  t.equal(seen.others.length, 40);
  const worst = Math.max(...seen.waitAtRead);
  t.ok(worst < 20, `no datagram read promptly measured as having waited long (worst ${worst.toFixed(1)} ms)`);
});

t.test('check(): true when a probe comes back through the socket, false when it cannot', async (t) => {
  const { probe, seen } = await listener(t);
  t.equal(await probe.check(), true, 'a probe came back');
  t.equal(seen.probes, 1, 'exactly one was sent');
  t.equal(probe.waitMs(performance.now()), 0, 'and the probe is idle afterwards');
  const hole = await socket(t);
  const lost = await probeAt(t, hole.address().port);
  t.equal(await lost.check(100), false, 'nothing hands the probe back: false');
});

t.test('a lost probe is replaced', async (t) => {
  // A target nobody reads: every probe is "lost"; the probe must keep sending replacements, not stall.
  const hole = await socket(t);
  const counted: number[] = [];
  hole.on('message', () => counted.push(performance.now()));
  const probe = await probeAt(t, hole.address().port, { lostAfterMs: 20 });
  probe.keepActive(performance.now(), 500);
  await sleep(150);
  t.ok(counted.length >= 3, `replacements sent every ~20 ms (${counted.length} in 150 ms)`);
  t.ok(probe.waitMs(performance.now()) > 0, 'and the bound grows while none comes back');
});
