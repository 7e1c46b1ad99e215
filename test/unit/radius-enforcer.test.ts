// The RADIUS enforcer's fair usage, through a seam: an Enforcer with a fake CoA client and a fake
// session state (the claims and records a Redis would hold), fed the granted outcomes the core
// gives once a plan's fair-usage limit is passed (`fairUsage` on the outcome). One CoA-Request per
// session with the NAS profile's restrict attributes (the plan's Filter-Id when it names one) or
// redirect attributes, a lifting CoA when a later grant comes without it, and the config's
// session-volume policy still working beside it.
import t from 'tap';

import type { RadiusSessionRecord, SessionSnapshot } from '../../src/balance/radius-sessions.js';
import type { ChargingService } from '../../src/core/charging.js';
import type { FairUsageState } from '../../src/core/types.js';
import { createLogger } from '../../src/lib/logger.js';
import type { NasClient } from '../../src/radius/clients.js';
import type { DynamicAuthKind, DynamicAuthResult, DynamicAuthTarget } from '../../src/radius/coa-client.js';
import type { RadiusAttributeInput } from '../../src/radius/codec.js';
import { Enforcer, type EnforcementState, type FairUsagePolicy } from '../../src/radius/enforcer.js';
import { nasProfile, type NasVendor } from '../../src/radius/nas-profiles.js';
import type { RadiusSession } from '../../src/radius/sessions.js';

interface Sent {
  kind: DynamicAuthKind;
  target: DynamicAuthTarget;
  attrs: RadiusAttributeInput[];
}

class FakeCoa {
  readonly sent: Sent[] = [];
  answer: DynamicAuthResult = { result: 'ack' };
  async send(kind: DynamicAuthKind, target: DynamicAuthTarget, attrs: readonly RadiusAttributeInput[]): Promise<DynamicAuthResult> {
    this.sent.push({ kind, target, attrs: [...attrs] });
    return this.answer;
  }
}

/** Claims and records as Redis would hold them (one shared Redis: several Enforcers may use one). */
class FakeState implements EnforcementState {
  readonly records = new Map<string, RadiusSessionRecord>();
  readonly claims = new Map<string, string>();
  async snapshot(_accountId: string, coreId: string): Promise<SessionSnapshot> {
    const r = this.records.get(coreId);
    return r === undefined ? {} : { record: { ...r } };
  }
  async update(_accountId: string, coreId: string, rec: RadiusSessionRecord): Promise<void> {
    this.records.set(coreId, { ...(this.records.get(coreId) ?? {}), ...rec });
  }
  async claim(_accountId: string, coreId: string, action: string, owner: string): Promise<boolean> {
    const k = `${coreId}/${action}`;
    if (this.claims.has(k)) return false;
    this.claims.set(k, owner);
    return true;
  }
  async holdClaim(): Promise<void> {}
  async releaseClaim(_accountId: string, coreId: string, action: string, owner: string): Promise<void> {
    const k = `${coreId}/${action}`;
    if (this.claims.get(k) === owner) this.claims.delete(k);
  }
}

function setup(policy?: FairUsagePolicy, nodeId = 'node-a', state = new FakeState()): { enforcer: Enforcer; coa: FakeCoa; state: FakeState } {
  const coa = new FakeCoa();
  const enforcer = new Enforcer({
    coa,
    state,
    clients: { lookup: () => undefined },
    charging: {} as ChargingService,
    store: { getAccount: async () => undefined },
    log: createLogger('silent'),
    nodeId,
    itemKey: 'radius:default',
    claimTtlMs: 30_000,
    ...(policy ? { fairUsage: policy } : {}),
  });
  return { enforcer, coa, state };
}

function session(vendor: NasVendor, coreId = 'radius:s-1:x'): RadiusSession {
  const client: NasClient = { address: '10.0.0.1', secret: 's3cret', profile: nasProfile(vendor), coaPort: 3799 };
  return {
    key: `id:nas|1|s-1|alice`,
    coreId,
    nasIdentity: 'id:nas',
    nasAddress: '10.0.0.1',
    client,
    identities: [{ kind: 'username', value: 'alice' }],
    accountId: 'a-1',
    target: { acctSessionId: 's-1', userName: 'alice', nasIdentifier: 'nas', nasPort: 1 },
    unit: 'octets',
    lastIn: 1_000,
    lastOut: 1_000,
    lastSessionTime: 60,
    base: { in: 0, out: 0, time: 0 },
    restricted: false,
    fairUsage: 'none',
    startedAt: 0,
    refreshedAt: 0,
    updatedAt: 0,
  };
}

/** The attributes of a CoA beyond the session identification. */
const ID_ATTRS = new Set(['NAS-Identifier', 'NAS-IP-Address', 'User-Name', 'Acct-Session-Id', 'NAS-Port', 'Framed-IP-Address', 'Calling-Station-Id']);
function extra(s: Sent): Array<[string, unknown]> {
  return s.attrs.filter((a): a is readonly [string, never] => Array.isArray(a) && !ID_ATTRS.has(a[0])).map(([n, v]) => [n, v]);
}
function identification(s: Sent): Record<string, unknown> {
  return Object.fromEntries(s.attrs.filter((a): a is readonly [string, never] => Array.isArray(a) && ID_ATTRS.has(a[0])).map(([n, v]) => [n, v]));
}

const restrict = (filterId?: string): FairUsageState => ({ action: 'restrict', ...(filterId ? { filterId } : {}) });

t.test('plan restrict: one CoA-Request with the profile\'s restrict attributes, Filter-Id from the plan, once per session', async (t) => {
  const { enforcer, coa, state } = setup();
  const s = session('mikrotik');
  enforcer.checkFairUsage(s, restrict('fup-slow'));
  t.equal(s.fairUsage, 'sent', 'in flight');
  enforcer.checkFairUsage(s, restrict('fup-slow'));
  await enforcer.drain();
  t.equal(coa.sent.length, 1, 'one CoA, even for a second grant while the first was in flight');
  t.equal(coa.sent[0].kind, 'coa');
  t.same(coa.sent[0].target, { address: '10.0.0.1', port: 3799, secret: 's3cret' });
  t.same(identification(coa.sent[0]), { 'NAS-Identifier': 'nas', 'User-Name': 'alice', 'Acct-Session-Id': 's-1', 'NAS-Port': 1 }, 'RFC 5176 session identification');
  t.same(extra(coa.sent[0]), [['Mikrotik-Rate-Limit', '1M/1M'], ['Filter-Id', 'fup-slow']]);
  t.equal(s.fairUsage, 'applied');
  t.equal(state.records.get(s.coreId)?.fairUsage, 'applied:plan', 'the NAS\'s ACK recorded for every node');
  t.equal(state.claims.size, 0, 'claim given back');
  for (let i = 0; i < 3; i++) enforcer.checkFairUsage(s, restrict('fup-slow'));
  await enforcer.drain();
  t.equal(coa.sent.length, 1, 'later grants past the limit send nothing more');
});

t.test('plan restrict on a generic NAS: the plan\'s Filter-Id replaces the profile\'s; without one the profile\'s stays', async (t) => {
  const { enforcer, coa } = setup();
  enforcer.checkFairUsage(session('generic', 'radius:g-1:x'), restrict('plan-filter'));
  enforcer.checkFairUsage(session('generic', 'radius:g-2:x'), restrict());
  await enforcer.drain();
  t.same(coa.sent.map(extra), [[['Filter-Id', 'plan-filter']], [['Filter-Id', 'fair-usage']]]);
});

t.test('plan restrict uses the config\'s restrict attributes for the vendor when configured', async (t) => {
  const { enforcer, coa } = setup({ thresholdOctets: 1e12, restrict: { mikrotik: [['Mikrotik-Rate-Limit', '256k/256k']] } });
  enforcer.checkFairUsage(session('mikrotik'), restrict('fup'));
  await enforcer.drain();
  t.same(extra(coa.sent[0]), [['Mikrotik-Rate-Limit', '256k/256k'], ['Filter-Id', 'fup']]);
});

t.test('plan redirect: the profile\'s redirect attributes when it has any, else Filter-Id; price: nothing', async (t) => {
  const { enforcer, coa } = setup();
  enforcer.checkFairUsage(session('mikrotik', 'radius:r-1:x'), { action: 'redirect', redirectUrl: 'http://portal.example/fup' });
  enforcer.checkFairUsage(session('generic', 'radius:r-2:x'), { action: 'redirect', redirectUrl: 'http://portal.example/fup', filterId: 'redirect-fup' });
  enforcer.checkFairUsage(session('chillispot', 'radius:r-3:x'), { action: 'redirect', redirectUrl: 'http://portal.example/fup' });
  enforcer.checkFairUsage(session('generic', 'radius:p-1:x'), { action: 'price' });
  await enforcer.drain();
  t.same(coa.sent.map(extra), [
    [['Mikrotik-Advertise-URL', 'http://portal.example/fup']],
    [['Filter-Id', 'redirect-fup']],
    [['Filter-Id', 'fair-usage-redirect']],
  ]);
});

t.test('a later grant without fairUsage (new cycle, top-up) lifts the plan\'s throttle; the next crossing throttles again', async (t) => {
  const { enforcer, coa, state } = setup();
  const s = session('mikrotik');
  enforcer.checkFairUsage(s, restrict('fup'));
  await enforcer.drain();
  enforcer.checkFairUsage(s, undefined);
  await enforcer.drain();
  t.equal(coa.sent.length, 2);
  t.same(extra(coa.sent[1]), [['Mikrotik-Rate-Limit', '0/0']], 'the profile\'s lifting attributes');
  t.equal(s.fairUsage, 'none');
  t.equal(state.records.get(s.coreId)?.fairUsage, 'none');
  enforcer.checkFairUsage(s, undefined);
  await enforcer.drain();
  t.equal(coa.sent.length, 2, 'nothing to lift any more');
  enforcer.checkFairUsage(s, restrict('fup'));
  await enforcer.drain();
  t.equal(coa.sent.length, 3, 'throttled again in the next cycle');

  const g = setup({ thresholdOctets: 1e12, lift: { generic: [['Filter-Id', 'gold']] } });
  const gs = session('generic');
  g.enforcer.checkFairUsage(gs, restrict('fup'));
  await g.enforcer.drain();
  g.enforcer.checkFairUsage(gs, undefined);
  await g.enforcer.drain();
  t.same(g.coa.sent.map(extra), [[['Filter-Id', 'fup']], [['Filter-Id', 'gold']]], 'configured lifting attributes win');
});

t.test('the config\'s session-volume policy: throttles once, and a grant without fairUsage never lifts it', async (t) => {
  const { enforcer, coa, state } = setup({ thresholdOctets: 10_000 });
  const s = session('mikrotik');
  enforcer.checkFairUsage(s, undefined);
  await enforcer.drain();
  t.equal(coa.sent.length, 0, 'below the session volume');
  s.lastIn = 9_000;
  s.lastOut = 2_000;
  enforcer.checkFairUsage(s, undefined);
  await enforcer.drain();
  t.same(coa.sent.map(extra), [[['Mikrotik-Rate-Limit', '1M/1M']]]);
  t.equal(state.records.get(s.coreId)?.fairUsage, 'applied:config');
  enforcer.checkFairUsage(s, undefined);
  enforcer.checkFairUsage(s, restrict('fup'));
  await enforcer.drain();
  t.equal(coa.sent.length, 1, 'already throttled: neither lifted nor throttled again');

  // Throttled by the plan, then past the config's volume when the plan lets go: it stays throttled.
  const p = setup({ thresholdOctets: 10_000 });
  const ps = session('generic');
  p.enforcer.checkFairUsage(ps, restrict('fup'));
  await p.enforcer.drain();
  ps.lastIn = 20_000;
  p.enforcer.checkFairUsage(ps, undefined);
  await p.enforcer.drain();
  t.equal(p.coa.sent.length, 1, 'no lift');
  t.equal(ps.fairUsageSource, 'config');
  t.equal(p.state.records.get(ps.coreId)?.fairUsage, 'applied:config');
});

t.test('NAK or silence: not applied, the claim given back, the next grant tries again', async (t) => {
  const { enforcer, coa, state } = setup();
  const s = session('generic');
  coa.answer = { result: 'nak', errorCause: 503 };
  enforcer.checkFairUsage(s, restrict('fup'));
  await enforcer.drain();
  t.equal(s.fairUsage, 'none');
  t.equal(state.records.get(s.coreId), undefined, 'nothing recorded');
  t.equal(state.claims.size, 0);
  coa.answer = { result: 'ack' };
  enforcer.checkFairUsage(s, restrict('fup'));
  await enforcer.drain();
  t.equal(coa.sent.length, 2);
  t.equal(s.fairUsage, 'applied');
});

t.test('two nodes: the one holding the claim sends; the other, or a node finding it done, sends nothing', async (t) => {
  const shared = new FakeState();
  const a = setup(undefined, 'node-a', shared);
  const b = setup(undefined, 'node-b', shared);
  const sa = session('generic');
  const sb = session('generic');
  a.enforcer.checkFairUsage(sa, restrict('fup'));
  b.enforcer.checkFairUsage(sb, restrict('fup'));
  await Promise.all([a.enforcer.drain(), b.enforcer.drain()]);
  t.equal(a.coa.sent.length + b.coa.sent.length, 1, 'one CoA in all');
  t.equal(a.coa.sent.length, 1, 'from the node that claimed first');
  t.equal(sb.fairUsage, 'none', 'the other one learns the state from Redis at its next report');

  // B's next report reads 'applied:plan' from Redis; if it read before A's ACK landed, the claim's re-read stops it.
  const c = setup(undefined, 'node-c', shared);
  const sc = session('generic');
  c.enforcer.checkFairUsage(sc, restrict('fup'));
  await c.enforcer.drain();
  t.equal(c.coa.sent.length, 0, 'a stale read: the claim is won, the state re-read, nothing sent');
  t.equal(sc.fairUsage, 'applied');
});

t.test('pppd has no CoA listener: nothing is sent', async (t) => {
  const { enforcer, coa } = setup({ thresholdOctets: 1 });
  enforcer.checkFairUsage(session('pppd'), restrict('fup'));
  await enforcer.drain();
  t.equal(coa.sent.length, 0);
});
