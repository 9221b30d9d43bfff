import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a callback may not reach (docs/api.md, Callback): the service's own network
 * and the cloud's metadata endpoints live there. Names are checked after resolution, by the
 * transport; IP literals already at intake.
 */

interface Range {
  network: string;
  prefix: number;
}

/** IPv4 ranges by the word a refusal uses for them. */
const IPV4_RANGES: Record<string, Range[]> = {
  unspecified: [{ network: '0.0.0.0', prefix: 8 }],
  loopback: [{ network: '127.0.0.0', prefix: 8 }],
  private: [
    { network: '10.0.0.0', prefix: 8 },
    { network: '172.16.0.0', prefix: 12 },
    { network: '192.168.0.0', prefix: 16 },
  ],
  'link-local': [{ network: '169.254.0.0', prefix: 16 }],
  shared: [{ network: '100.64.0.0', prefix: 10 }],
  multicast: [{ network: '224.0.0.0', prefix: 4 }],
  // Reserved for future use and the broadcast address: never a receiver.
  reserved: [{ network: '240.0.0.0', prefix: 4 }],
};

const IPV6_RANGES: Record<string, Range[]> = {
  unspecified: [{ network: '::', prefix: 128 }],
  loopback: [{ network: '::1', prefix: 128 }],
  private: [{ network: 'fc00::', prefix: 7 }],
  'link-local': [{ network: 'fe80::', prefix: 10 }],
  'site-local': [{ network: 'fec0::', prefix: 10 }],
  multicast: [{ network: 'ff00::', prefix: 8 }],
};

/**
 * IPv6 forms that carry an IPv4 address, so `::ffff:127.0.0.1` is refused as 127.0.0.1 is:
 * IPv4-mapped, NAT64 (64:ff9b::/96), IPv4-compatible (::/96, deprecated) and 6to4 (2002::/16).
 * `offset` is where the IPv4 address starts, in bits.
 */
const IPV4_CARRIERS: { name: string; prefix: string; offset: number }[] = [
  { name: 'IPv4-mapped', prefix: '::ffff:', offset: 96 },
  { name: 'NAT64', prefix: '64:ff9b::', offset: 96 },
  { name: 'IPv4-compatible', prefix: '::', offset: 96 },
  { name: '6to4', prefix: '2002:', offset: 16 },
];

function ipv4Groups(network: string): string[] {
  const [a, b, c, d] = network.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}

/** The IPv6 network of an IPv4 range inside a carrier, e.g. ::ffff:7f00:0/104 for 127/8. */
function carried(carrier: (typeof IPV4_CARRIERS)[number], range: Range): Range {
  const [high, low] = ipv4Groups(range.network);
  const network = `${carrier.prefix}${high}:${low}${carrier.offset === 96 ? '' : '::'}`;
  return { network, prefix: carrier.offset + range.prefix };
}

interface Rule {
  description: string;
  family: 'ipv4' | 'ipv6';
  list: BlockList;
}

function rules(): Rule[] {
  const built: Rule[] = [];
  const add = (description: string, ranges: Range[], family: 'ipv4' | 'ipv6'): void => {
    const list = new BlockList();
    for (const { network, prefix } of ranges) list.addSubnet(network, prefix, family);
    built.push({ description, family, list });
  };
  for (const [name, ranges] of Object.entries(IPV4_RANGES)) add(name, ranges, 'ipv4');
  // The carriers before the plain IPv6 ranges: ::7f00:1 is an IPv4-compatible loopback, not
  // just "inside ::/96". The IPv4-compatible ::/96 leaves out :: and ::1 (0.0.0.0/8 covers them,
  // but they are better named as IPv6's own unspecified and loopback).
  for (const carrier of IPV4_CARRIERS) {
    for (const [name, ranges] of Object.entries(IPV4_RANGES)) {
      if (carrier.name === 'IPv4-compatible' && name === 'unspecified') continue;
      add(
        `${carrier.name} ${name}`,
        ranges.map((range) => carried(carrier, range)),
        'ipv6',
      );
    }
  }
  for (const [name, ranges] of Object.entries(IPV6_RANGES)) add(name, ranges, 'ipv6');
  return built;
}

const RULES = rules();

/**
 * What kind of refused address `address` (an IP literal, IPv6 without brackets) is: "loopback",
 * "IPv4-mapped private", …; undefined when a callback may go there.
 */
export function refusedRangeOf(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  // Only rules of the address's own family: BlockList would also match an IPv4-mapped address
  // against the IPv4 rules, and the carrier rules name that form better.
  return RULES.find((rule) => rule.family === type && rule.list.check(address, type))?.description;
}

/** A URL's host as an address or name: lower case, IPv6 brackets removed. */
export function bareHost(hostname: string): string {
  const lower = hostname.toLowerCase();
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

/** `address` and what it is, for `last_error` or a 400 ("10.0.0.1, a private address"); undefined if a callback may go there. */
export function refusalOf(address: string): string | undefined {
  const range = refusedRangeOf(address);
  if (range === undefined) return undefined;
  return `${address}, ${/^[aeiouIA]/.test(range) ? 'an' : 'a'} ${range} address`;
}

/**
 * The hosts of CALLBACK_ALLOWED_HOSTS: the one way to let a callback reach a refused address
 * (a receiver inside the cluster) or use plain http.
 */
export class CallbackHostPolicy {
  private readonly allowed: Set<string>;

  constructor(allowedHosts: readonly string[]) {
    this.allowed = new Set(allowedHosts.map(bareHost));
  }

  isAllowed(hostname: string): boolean {
    return this.allowed.has(bareHost(hostname));
  }

  /**
   * Why `callback_url` is refused at intake, or undefined. Names are not resolved here (their
   * addresses may change by the time the batch ends): the transport checks them at each attempt.
   */
  intakeProblem(value: string): string | undefined {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return 'must be an absolute https URL';
    }
    if (url.username || url.password) return 'must not carry credentials';
    const allowed = this.isAllowed(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowed))
      return 'must be https (http only for hosts in CALLBACK_ALLOWED_HOSTS)';
    if (allowed) return undefined;
    const refusal = refusalOf(bareHost(url.hostname));
    return refusal === undefined
      ? undefined
      : `must not point at ${refusal} (only hosts in CALLBACK_ALLOWED_HOSTS may)`;
  }
}
