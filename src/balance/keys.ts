// Every Redis key name is built here and nowhere else.
//
// Cluster layout: accounts are spread over a fixed number of shards; the shard tag `{sNN}` is the
// Redis Cluster hash tag, so one account's keys, its sessions, the shard's expiry index and the
// shard's CDR outbox stream all live in one slot. That is what lets a single Lua script debit a
// balance and append the CDR atomically on a cluster. Identity → account indexes are global keys
// of their own (each its own slot): they are looked up before a script runs, never inside one.

/** Fixed forever once data exists: changing it would move accounts between slots. */
export const SHARD_COUNT = 64

const PREFIX = 'ocs'

/** FNV-1a 32-bit: stable across processes and languages, cheap. */
export function shardOf(accountId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < accountId.length; i++) {
    h ^= accountId.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h % SHARD_COUNT
}

export const shardTag = (shard: number): string => `{s${shard}}`

// A charging step names ten or more keys of one account in a row: the last account's shard prefix
// and key base are kept, so the hash and the strings are made once per step, not once per key.
let lastAccount: string | undefined
let lastShardPrefix = ''
let lastBase = ''
function remember(accountId: string): void {
  lastShardPrefix = `${PREFIX}:${shardTag(shardOf(accountId))}`
  lastBase = `${lastShardPrefix}:acct:${accountId}`
  lastAccount = accountId
}
/** `ocs:{sNN}` of the account's shard. */
const shardPrefixOf = (accountId: string): string => {
  if (accountId !== lastAccount) remember(accountId)
  return lastShardPrefix
}
const acctBase = (accountId: string): string => {
  if (accountId !== lastAccount) remember(accountId)
  return lastBase
}

export const keys = {
  /** hash: account attributes and the running `reserved` total */
  account: (accountId: string) => acctBase(accountId),
  /** hash: bucketId → bucket JSON (amounts as integer strings) */
  buckets: (accountId: string) => `${acctBase(accountId)}:buckets`,
  /** hash: money ledger for the conservation audit (topups, refunds, charged, adjustments) */
  ledger: (accountId: string) => `${acctBase(accountId)}:ledger`,
  /** set: ids of the account's open sessions */
  accountSessions: (accountId: string) => `${acctBase(accountId)}:sessions`,
  /** set: open sessions holding a final unit or refused for credit (re-auth candidates after a top-up) */
  accountReauth: (accountId: string) => `${acctBase(accountId)}:reauth`,
  /** set: subscriber ids of the account */
  accountSubscribers: (accountId: string) => `${acctBase(accountId)}:subs`,
  /** hash: session state — m = meta JSON, r:<rating group key> = rating group state (MessagePack; JSON before it), fl = flagged groups, u = last update, rt = the front end's route to the client */
  session: (accountId: string, sessionId: string) => `${acctBase(accountId)}:sess:${sessionId}`,
  /** string: stored answer of a request id (idempotency) */
  idempotency: (accountId: string, requestId: string) => `${acctBase(accountId)}:idem:${requestId}`,
  /** zset per shard: `accountId|sessionId` scored by the time its reservations lapse */
  expiry: (shard: number) => `${PREFIX}:${shardTag(shard)}:expiry`,
  expiryOf: (accountId: string) => `${shardPrefixOf(accountId)}:expiry`,
  /**
   * string: a node's claim on sending one server-initiated request (Diameter RAR/ASR) for one account
   * event to one session (SET NX PX, left to expire): whichever node holds the client's peer and
   * wins it sends, so an event never goes out twice
   */
  serverRequestClaim: (accountId: string, eventId: string, sessionId: string) => `${acctBase(accountId)}:srq:${eventId}:${sessionId}`,
  /** hash per shard: running totals for metrics (reserved money, open sessions per protocol) */
  shardStats: (shard: number) => `${PREFIX}:${shardTag(shard)}:stats`,
  shardStatsOf: (accountId: string) => `${shardPrefixOf(accountId)}:stats`,
  /** stream per shard: the CDR outbox */
  outbox: (shard: number) => `${PREFIX}:${shardTag(shard)}:outbox`,
  outboxOf: (accountId: string) => `${shardPrefixOf(accountId)}:outbox`,
  /** zset per shard: account ids scored by the time their next billing cycle starts (renewal due) */
  cycles: (shard: number) => `${PREFIX}:${shardTag(shard)}:cycles`,
  cyclesOf: (accountId: string) => `${shardPrefixOf(accountId)}:cycles`,

  /** string: subscriber JSON (global key; holds its account id) */
  subscriber: (subscriberId: string) => `${PREFIX}:sub:${subscriberId}`,
  /** string: identity → `{account, subscriber}` JSON; one key per identity so uniqueness is a SET NX */
  identity: (kind: IdentityKind, value: string) => `${PREFIX}:ident:${kind}:${value}`,
  /** string: session id → account id, so any node can route a CCR-U/T without the identity */
  sessionIndex: (sessionId: string) => `${PREFIX}:sessidx:${sessionId}`,
  /** zset: account ids by creation time (listing) */
  accountList: () => `${PREFIX}:accounts`,
  /** hash: planId → plan JSON; string: plan version counter */
  plans: () => `${PREFIX}:plans`,
  plansVersion: () => `${PREFIX}:plans:version`,
  /** hash: deckId → rate deck CSV (versioned with the plans) */
  decks: () => `${PREFIX}:decks`,
  /** string: SHA-256 digest of the admin API key (hex; src/api/auth.ts) */
  apiKeyHash: () => `${PREFIX}:admin:apikey`,
  /** pub/sub channel: account events (top-up, plan change, bar) for the front ends */
  eventsChannel: () => `${PREFIX}:events`,
}

// RADIUS front end (issue 6, several OCS nodes on one Redis): the state of a RADIUS session that
// any node must be able to act on. A session's keys carry its account's hash tag; the per-NAS
// index is global (a NAS's sessions span accounts).
const radiusNasPart = (nasIdentity: string): string => nasIdentity.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

export const radiusKeys = {
  /**
   * hash: one RADIUS session — m = meta JSON (session key, NAS identity, RFC 5176 identification,
   * identities; written once), a = NAS address, b = cumulative counters when the core session was
   * (re)opened, c = last cumulative counters charged, u/r/g = unit, NAS-enforced cap, final grant,
   * f = fair-usage state, x = closed (then it expires soon)
   */
  session: (accountId: string, coreSessionId: string) => `${acctBase(accountId)}:rad:${coreSessionId}`,
  /** string: a node's claim on one Disconnect/CoA action of a session (SET NX PX): the holder sends */
  claim: (accountId: string, coreSessionId: string, action: string) => `${acctBase(accountId)}:rad:${coreSessionId}:claim:${action}`,
  /** zset: open RADIUS sessions of one NAS, `accountId|coreSessionId` scored by start time (global key) */
  nasSessions: (nasIdentity: string) => `${PREFIX}:radnas:${radiusNasPart(nasIdentity)}`,
}

export type IdentityKind = 'msisdn' | 'imsi' | 'sip' | 'username'
