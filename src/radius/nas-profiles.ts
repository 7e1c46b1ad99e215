// NAS profiles: how each kind of NAS is told its credit and how it can be reached afterwards.
// Data, not branches in the handlers: the auth and accounting handlers ask the profile.
//
//   vendor      volume quota in the Access-Accept            RFC 5176 listener   credit enforced by
//   generic     none                                          yes                 interim + Disconnect-Request
//   mikrotik    Mikrotik-Total-Limit + -Total-Limit-Gigawords yes                 the NAS (volume), interim + DM
//   chillispot  ChilliSpot-Max-Total-Octets (+ -Gigawords)    yes                 the NAS (volume), interim + DM
//   pppd        none (radius.so has no such attribute)        no                  Session-Timeout from the balance
//
// pppd 2.4.9's radius.so honours Session-Timeout, Idle-Timeout, Acct-Interim-Interval (raised to
// at least 60 s) and Class, and has no CoA/Disconnect listener (SPEC "What real NAS send"): for it
// the Session-Timeout is what the balance affords at an assumed line rate.

import type { NAS_VENDORS } from '../config/schema.js';
import type { RadiusValueInput } from './values.js';

export type NasVendor = (typeof NAS_VENDORS)[number];

/** Attributes as [dictionary name, value] pairs, in the order they are sent. */
export type AttributeList = ReadonlyArray<readonly [name: string, value: RadiusValueInput]>;

export type Enforcement =
  /** The NAS stops the session at a volume we put in the Access-Accept. */
  | 'volume-attribute'
  /** Nothing on the NAS: interim accounting shows depletion and we send Disconnect-Request. */
  | 'interim'
  /** No CoA listener: the Access-Accept's Session-Timeout is the only brake. */
  | 'session-timeout';

export interface NasProfile {
  readonly vendor: NasVendor;
  /** Has an RFC 5176 Disconnect/CoA listener (at the client's coaPort). */
  readonly dynamicAuthorization: boolean;
  readonly enforcement: Enforcement;
  /** Acct-Interim-Interval sent is at least this. */
  readonly minInterimSeconds: number;
  /** The vendor's attributes for a total (input + output) volume cap; [] when it has none. */
  volumeQuota(octets: number): Array<readonly [string, RadiusValueInput]>;
  /** CoA attributes that throttle a session past its fair-usage volume (defaults; overridable). */
  readonly fairUsageRestrict: AttributeList;
  /**
   * CoA attributes that send the subscriber's web traffic to `url` (the plan's fair-usage
   * redirect), when the vendor has such attributes; otherwise a redirect is asked for by Filter-Id.
   */
  fairUsageRedirect?(url: string): AttributeList;
  /** CoA attributes that lift a fair-usage throttle (a new cycle or a top-up ended it; overridable). */
  readonly fairUsageLift: AttributeList;
}

const GIGAWORD = 2 ** 32;

/** octets = gigawords × 2^32 + low 32 bits, as RADIUS splits 64-bit counters. */
export function splitGigawords(octets: number): { low: number; gigawords: number } {
  const n = Math.max(0, Math.floor(octets));
  return { low: n % GIGAWORD, gigawords: Math.floor(n / GIGAWORD) };
}

const PROFILES: Readonly<Record<NasVendor, NasProfile>> = {
  generic: {
    vendor: 'generic',
    dynamicAuthorization: true,
    enforcement: 'interim',
    minInterimSeconds: 60,
    volumeQuota: () => [],
    fairUsageRestrict: [['Filter-Id', 'fair-usage']],
    fairUsageLift: [['Filter-Id', 'default']],
  },
  mikrotik: {
    vendor: 'mikrotik',
    dynamicAuthorization: true,
    enforcement: 'volume-attribute',
    minInterimSeconds: 60,
    volumeQuota(octets) {
      const { low, gigawords } = splitGigawords(octets);
      return [
        ['Mikrotik-Total-Limit', low],
        ['Mikrotik-Total-Limit-Gigawords', gigawords],
      ];
    },
    fairUsageRestrict: [['Mikrotik-Rate-Limit', '1M/1M']],
    // RouterOS hotspot: HTTP requests go to the advertisement URL (the whole point of a redirect).
    fairUsageRedirect: (url) => [['Mikrotik-Advertise-URL', url]],
    // RouterOS reads a rate of 0 as no limit.
    fairUsageLift: [['Mikrotik-Rate-Limit', '0/0']],
  },
  chillispot: {
    vendor: 'chillispot',
    dynamicAuthorization: true,
    enforcement: 'volume-attribute',
    minInterimSeconds: 60,
    volumeQuota(octets) {
      const { low, gigawords } = splitGigawords(octets);
      // Old ChilliSpot does not know the -Gigawords attribute: send it only when needed.
      return gigawords > 0
        ? [
            ['ChilliSpot-Max-Total-Octets', low],
            ['ChilliSpot-Max-Total-Gigawords', gigawords],
          ]
        : [['ChilliSpot-Max-Total-Octets', low]];
    },
    fairUsageRestrict: [
      ['ChilliSpot-Bandwidth-Max-Up', 1024],
      ['ChilliSpot-Bandwidth-Max-Down', 1024],
    ],
    // CoovaChilli reads a bandwidth of 0 as no limit.
    fairUsageLift: [
      ['ChilliSpot-Bandwidth-Max-Up', 0],
      ['ChilliSpot-Bandwidth-Max-Down', 0],
    ],
  },
  pppd: {
    vendor: 'pppd',
    dynamicAuthorization: false,
    enforcement: 'session-timeout',
    minInterimSeconds: 60,
    volumeQuota: () => [],
    fairUsageRestrict: [],
    fairUsageLift: [],
  },
};

export function nasProfile(vendor: NasVendor): NasProfile {
  return PROFILES[vendor];
}
