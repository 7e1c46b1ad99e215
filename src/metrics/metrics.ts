import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client'
import { HotCounter, HotHistogram } from './hot.js'

// Every metric name and label set of the OCS, declared once. Labels are low-cardinality by rule:
// never a session id, an identity or an account id (test/integration/metrics.test.ts checks that
// the series count does not grow with subscribers). Grafana dashboards use only these names.

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

export class Metrics {
  readonly registry = new Registry()

  /** protocol: diameter|radius|api; command: CCR, Access-Request…; type: INITIAL, Start…; result: 2001, 4012, accept… */
  readonly requests = new HotCounter({ name: 'ocs_requests_total', help: 'Requests answered, by protocol, command, request type and result', labelNames: ['protocol', 'command', 'type', 'result'] as const, registers: [this.registry] })
  readonly requestDuration = new HotHistogram({ name: 'ocs_request_duration_seconds', help: 'Time from a request decoded to its answer sent', labelNames: ['protocol', 'command'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] })
  readonly luaDuration = new HotHistogram({ name: 'ocs_lua_duration_seconds', help: 'Round trip of one charging Lua script', labelNames: ['script'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] })
  readonly chargingUnavailable = new Counter({ name: 'ocs_charging_unavailable_total', help: 'Charging steps that failed because Redis was unavailable or slow', registers: [this.registry] })
  readonly chargingInvalid = new Counter({ name: 'ocs_charging_invalid_total', help: 'Charging requests refused before any balance moved: a field that cannot be charged and recorded on a CDR (NUL, too long, absurd usage)', labelNames: ['field'] as const, registers: [this.registry] })
  readonly activeSessions = new Gauge({ name: 'ocs_active_sessions', help: 'Open charging sessions across all nodes, by protocol', labelNames: ['protocol'] as const, registers: [this.registry] })
  readonly reservedAmount = new Gauge({ name: 'ocs_reserved_amount_micro', help: 'Money held by live reservations across all nodes, micro-units of the account currencies', registers: [this.registry] })
  readonly reservedUnits = new Gauge({ name: 'ocs_reserved_units', help: 'Units granted and not yet reported, across all nodes, by unit', labelNames: ['unit'] as const, registers: [this.registry] })
  readonly topups = new Counter({ name: 'ocs_topups_total', help: 'Top-ups applied', registers: [this.registry] })
  readonly topupAmount = new Counter({ name: 'ocs_topup_amount_micro_total', help: 'Money topped up, micro-units', registers: [this.registry] })
  readonly reaperReleases = new Counter({ name: 'ocs_reaper_released_total', help: 'Sessions closed by the reaper after validity + grace', registers: [this.registry] })
  readonly idlePolling = new Gauge({ name: 'ocs_idle_polling', help: '1 while this node\'s idle pollers keep the CPUs from halting (scheduling.idlePoll), else 0', registers: [this.registry] })
  readonly outboxBacklog = new Gauge({ name: 'ocs_outbox_backlog', help: 'CDRs waiting in the outbox stream of each shard', labelNames: ['shard'] as const, registers: [this.registry] })
  readonly cdrsWritten = new Counter({ name: 'ocs_cdrs_written_total', help: 'CDRs committed to the billing store', registers: [this.registry] })
  readonly cdrsFailed = new Counter({ name: 'ocs_cdrs_failed_total', help: 'CDR batches that failed to commit (retried)', registers: [this.registry] })
  readonly diameterPeerState = new Gauge({ name: 'ocs_diameter_peer_up', help: 'Diameter peer connections in state Open, by configured peer', labelNames: ['peer'] as const, registers: [this.registry] })
  readonly diameterWatchdogFailures = new Counter({ name: 'ocs_diameter_watchdog_failures_total', help: 'DWR without DWA in time', registers: [this.registry] })
  readonly diameterRejectedPeers = new Counter({ name: 'ocs_diameter_rejected_peers_total', help: 'Connections refused: unknown peer (3010) or bad CER', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly tolerated = new Counter({ name: 'ocs_tolerated_irregularities_total', help: 'Irregular but accepted input from known peers (duplicated AVPs, bad grouped AVPs, …)', labelNames: ['protocol', 'kind'] as const, registers: [this.registry] })
  readonly malformed = new Counter({ name: 'ocs_malformed_total', help: 'Malformed input answered with an error or dropped', labelNames: ['protocol', 'reason'] as const, registers: [this.registry] })
  readonly radiusDropped = new Counter({ name: 'ocs_radius_dropped_total', help: 'RADIUS packets dropped', labelNames: ['reason'] as const, registers: [this.registry] })
  readonly coaSent = new Counter({ name: 'ocs_radius_coa_total', help: 'CoA-Request / Disconnect-Request sent, by result', labelNames: ['kind', 'result'] as const, registers: [this.registry] })
  readonly overload = new Counter({ name: 'ocs_overload_rejections_total', help: 'Requests refused at once because in-flight work was at its bound', labelNames: ['protocol'] as const, registers: [this.registry] })

  constructor(withDefaults = true) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'ocs_' })
  }
}
