// NAS clients from config: source address or CIDR block → shared secret, vendor profile, CoA port
// (RFC 2865 section 3: a server MUST silently discard a request from a client it has no secret for).
// The most specific block wins, so `10.0.0.0/8` generic and `10.1.2.3` mikrotik can live together.

import ipaddr from 'ipaddr.js';

import type { RadiusClientConfig } from '../config/schema.js';
import { Lru } from '../lib/lru.js';
import { nasProfile, type NasProfile } from './nas-profiles.js';

export interface NasClient {
  /** The config entry's address or CIDR block, as written (for logs; never the secret). */
  readonly address: string;
  readonly secret: string;
  readonly profile: NasProfile;
  /** UDP port of the NAS's RFC 5176 listener. */
  readonly coaPort: number;
}

interface Entry {
  readonly client: NasClient;
  readonly range: [ipaddr.IPv4 | ipaddr.IPv6, number];
}

/** Source address of a datagram in canonical form ("::ffff:10.0.0.1" → "10.0.0.1"); undefined if not an address. */
export function canonicalAddress(address: string): string | undefined {
  try {
    return ipaddr.process(address).toString();
  } catch {
    return undefined;
  }
}

/** Where a datagram came from: its source in canonical form (the text as given if it is no address) and its client. */
export interface DatagramSource {
  readonly source: string;
  readonly client: NasClient | undefined;
}

export class NasClients {
  private readonly entries: Entry[];
  /**
   * Source address as received → canonical form and client. Every datagram asks, so an address is
   * parsed once (ipaddr parsing was ~1 % of the OCS's CPU under RADIUS load). Bounded: spoofed
   * sources cannot grow it.
   */
  private readonly cache = new Lru<string, DatagramSource>(4096);

  constructor(configs: readonly RadiusClientConfig[]) {
    this.entries = configs.map((c) => {
      const range: [ipaddr.IPv4 | ipaddr.IPv6, number] = c.address.includes('/')
        ? ipaddr.parseCIDR(c.address)
        : (() => {
            const a = ipaddr.process(c.address);
            return [a, a.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
          })();
      // An IPv4-mapped IPv6 block is matched as the IPv4 block it stands for.
      if (range[0].kind() === 'ipv6' && (range[0] as ipaddr.IPv6).isIPv4MappedAddress() && range[1] >= 96) {
        range[0] = (range[0] as ipaddr.IPv6).toIPv4Address();
        range[1] -= 96;
      }
      return { client: { address: c.address, secret: c.secret, profile: nasProfile(c.vendor), coaPort: c.coaPort }, range };
    });
    // Longest prefix first.
    this.entries.sort((a, b) => b.range[1] - a.range[1]);
  }

  /** The client a datagram from `address` belongs to, or undefined. */
  lookup(address: string): NasClient | undefined {
    return this.identify(address).client;
  }

  /** The canonical source and client of a datagram from `address` (as the socket reports it). */
  identify(address: string): DatagramSource {
    let hit = this.cache.get(address);
    if (hit === undefined) {
      hit = this.resolve(address);
      this.cache.set(address, hit);
    }
    return hit;
  }

  private resolve(address: string): DatagramSource {
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      a = ipaddr.process(address);
    } catch {
      return { source: address, client: undefined };
    }
    const client = this.entries.find((e) => e.range[0].kind() === a.kind() && a.match(e.range))?.client;
    return { source: a.toString(), client };
  }

  get size(): number {
    return this.entries.length;
  }
}
