// The RADIUS session state shared through Redis, without Redis: reading the core's counters out of
// its stored rating-group state, and how a node brings its view of a session up to date from a snapshot
// (the core's counters on top of the base, the last totals written when the core session is gone).
import t from 'tap';

import { coreCounters, type SessionSnapshot } from '../../src/balance/radius-sessions.js';
import { nasProfile } from '../../src/radius/nas-profiles.js';
import { applySnapshot, chargedTotals, type RadiusSession } from '../../src/radius/sessions.js';

t.test('coreCounters: top-level inO/outO/used/unit of the core\'s rating group', async (t) => {
  // Packed by Redis 7.0's cmsgpack (EVAL of cmsgpack.pack on a state as session-charge.lua keeps it),
  // with a bucket named like a counter inside byB: only top-level members count.
  const packed = Buffer.from(
    '8ca46f75744fce001e8480a763686172676564cd4a82a46e73656701a3696e4fce001e8480a373656784a175ce003d0900a17483a26964b064656d6f40313a62726f616462616e64a472617465cd1388a3706572ce00100000a163cd4a82a56669727374c3a4756e6974a66f6374657473a2707601a3737663a962726f616462616e64a475736564ce003d0900a372657382a16ece00500000a26d629192a46d61696ecd61a8a5746e616d65a662622d314d42a362794282a46d61696ecd4a82a3696e4f05',
    'hex',
  );
  t.same(coreCounters(packed), { inO: 2_000_000, outO: 2_000_000, used: 4_000_000, unit: 'octets' });
  // A state written before MessagePack (JSON) is still read: sessions open across an upgrade.
  const json =
    '{"outO":2000000,"charged":19074,"nseg":1,"inO":2000000,"byU":{},"unit":"octets","pv":1,"svc":"broadband","res":{"ub":{},"mb":[["main",25000]],"n":5242880},"tax":0,"seg":{"x":0,"c":19074,"u":4000000,"t":{"min":0,"name":"bb-1MB","per":1048576,"next":1,"id":"demo@1:broadband","first":1,"rate":5000,"fee":0},"first":true},"over":0,"bu":0,"byB":{"main":19074,"inO":5},"refused":false,"fui":false,"tname":"bb-1MB","used":4000000}';
  t.same(coreCounters(Buffer.from(json)), { inO: 2_000_000, outO: 2_000_000, used: 4_000_000, unit: 'octets' });
  t.same(coreCounters(Buffer.from('{"inO":5,"used":5}')), { inO: 5, outO: 0, used: 5 }, 'a counter at zero is left out of the state: read as 0');
});

function session(): RadiusSession {
  return {
    key: 'k',
    coreId: 'radius:k:x',
    nasIdentity: 'id:nas',
    nasAddress: '10.0.0.1',
    client: { address: '10.0.0.1', secret: 's', profile: nasProfile('generic'), coaPort: 3799 },
    identities: [],
    accountId: 'a-1',
    target: { acctSessionId: 'k' },
    unit: 'octets',
    lastIn: 0,
    lastOut: 0,
    lastSessionTime: 0,
    base: { in: 0, out: 0, time: 0 },
    restricted: false,
    fairUsage: 'none',
    startedAt: 0,
    refreshedAt: 0,
    updatedAt: 0,
  };
}

t.test('totals charged so far: base + the core\'s counters; the last totals written once the core session is gone', async (t) => {
  const open: SessionSnapshot = { record: { base: { in: 10, out: 20, time: 30 }, last: { in: 1, out: 1, time: 99 } }, core: { inO: 5, outO: 6, used: 11, unit: 'octets' } };
  t.same(chargedTotals(open, 'octets'), { in: 15, out: 26, time: 99 }, 'octets: time as last written');
  t.same(chargedTotals({ ...open, core: { inO: 5, outO: 6, used: 40, unit: 'seconds' } }, 'octets'), { in: 15, out: 26, time: 70 }, 'seconds: time from the core too');
  t.same(chargedTotals({ record: { last: { in: 7, out: 8, time: 9 } } }, 'octets'), { in: 7, out: 8, time: 9 }, 'core session gone');
  t.equal(chargedTotals({}, 'octets'), undefined, 'nothing known');

  const s = session();
  s.lastIn = 100; // what this node charged itself at an earlier report
  applySnapshot(s, open);
  t.same([s.lastIn, s.lastOut], [15, 26], 'the core\'s counters win over this node\'s memory (another node charged since)');
  const r = session();
  r.lastIn = 100;
  applySnapshot(r, { record: { last: { in: 7, out: 8, time: 9 }, restricted: true, fairUsage: 'applied:plan', finalGrantUnits: 500, unit: 'seconds' } });
  t.same([r.lastIn, r.lastOut, r.lastSessionTime], [100, 8, 9], 'core gone: the larger of the last written and this node\'s own totals');
  t.same([r.restricted, r.fairUsage, r.fairUsageSource, r.finalGrantUnits, r.unit], [true, 'applied', 'plan', 500, 'seconds'], 'the enforcement state other nodes wrote');
  r.fairUsage = 'sent';
  applySnapshot(r, { record: { fairUsage: 'none', finalGrantUnits: null } });
  t.equal(r.fairUsage, 'sent', 'a CoA in flight from this node keeps its state');
  t.equal(r.finalGrantUnits, undefined);
});
