/**
 * Which URLs the broker talks to, and so sends credentials to (docs/api.md "URLs must be https:",
 * docs/security.md). One function decides it for every endpoint, whether an administrator gave it or an
 * issuer's discovery document named it: `endpointUrlProblem`. Profile validation, discovery and every
 * request to an authorization server go through it.
 *
 * Two policies, chosen by the composition root:
 * - `cloud` (the Lambda functions): `https:` only, and no IP literal in loopback, private, link-local,
 *   CGNAT or other non-public ranges (nor `localhost`), in any spelling (IPv4-mapped IPv6 included). The
 *   function's own neighbourhood (the Lambda runtime API on 127.0.0.1:9001, link-local metadata services)
 *   is never a token endpoint.
 * - `local` (`npm start`): also `http:` on a loopback host, for development against a local server.
 *
 * Host names are not resolved here: a name that resolves to a private address can only be reached over
 * TLS with a certificate for that name (docs/security.md says what that leaves open).
 */
import { BlockList, isIP } from 'node:net';
import { isLoopbackUrl } from './shared.js';

export type UrlPolicy = 'cloud' | 'local';

/** Addresses the cloud policy refuses as IP literals. */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0 (unspecified)
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space, CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (instance metadata services)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/**
 * Whether `address` (an IPv4 or IPv6 literal, without brackets) is in a non-public range. IPv4 embedded
 * in IPv6 (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged as that IPv4
 * address.
 */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return false;
  // BlockList judges IPv4-mapped addresses by the IPv4 rules itself.
  if (NON_PUBLIC.check(address, 'ipv6')) return true;
  const groups = expandIpv6(address);
  if (!groups) return true;
  const embedded = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)) {
    return NON_PUBLIC.check(embedded(groups[6]!, groups[7]!), 'ipv4');
  }
  if (groups[0] === 0x2002) return NON_PUBLIC.check(embedded(groups[1]!, groups[2]!), 'ipv4');
  return false;
}

/** The eight 16-bit groups of an IPv6 literal (`isIP` has accepted it), or `undefined`. */
function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  // A dotted IPv4 tail becomes two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const high = parse(head);
  const low = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? high : [...high, ...Array<number>(8 - high.length - low.length).fill(0), ...low];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * What is wrong with `value` as an authorization server endpoint under `policy`, as the end of a
 * sentence that starts with the field's name ("must use https: …"); `undefined` when it is acceptable.
 * Never quotes the value.
 */
export function endpointUrlProblem(value: string | URL, policy: UrlPolicy): string | undefined {
  let url: URL;
  try {
    url = typeof value === 'string' ? new URL(value) : value;
  } catch {
    return 'is not a valid absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https: URL';
  if (url.username || url.password) return 'must not contain a user name or password';
  if (url.hash) return 'must not contain a #fragment';
  if (policy === 'local') {
    return url.protocol === 'http:' && !isLoopbackUrl(url)
      ? 'must use https: (http: is accepted only for 127.0.0.1, localhost or [::1])'
      : undefined;
  }
  if (url.protocol === 'http:') return 'must use https: (http: is accepted only in local mode, on loopback)';
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost') || isNonPublicAddress(host)) {
    return 'must name a public host: loopback, private, link-local and shared (CGNAT) addresses are refused in the cloud';
  }
  return undefined;
}
