// IPv4/IPv6 CIDR matching for the trusted networks (auth.camera_networks) and loopback.
import { BlockList, isIP } from 'node:net';

/** Strips the IPv4-mapped IPv6 prefix (::ffff:10.0.0.1 → 10.0.0.1). */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

export function isLoopback(address: string | undefined): boolean {
  const ip = normalizeIp(address);
  return ip === '::1' || /^127\./.test(ip);
}

/** Parses CIDRs (a bare address is a /32 or /128); throws naming the first bad one. */
export function networkList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr = '', bitsRaw] = cidr.trim().split('/');
    const family = isIP(addr);
    if (family === 0) throw new Error(`${cidr}: not an IP address or CIDR`);
    const max = family === 4 ? 32 : 128;
    const bits = bitsRaw === undefined ? max : Number(bitsRaw);
    if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`${cidr}: prefix length must be 0..${max}`);
    list.addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

export function inNetworks(list: BlockList, address: string | undefined): boolean {
  const ip = normalizeIp(address);
  const family = isIP(ip);
  if (family === 0) return false;
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}
