/**
 * Whom a client address stands for, for every per-address limit (the sign-in throttle, the
 * management API's failed-authentication throttle, the intake's rate limits).
 */

/**
 * Whom an address stands for: an IPv4 address itself (also when IPv4-mapped), an IPv6 address
 * its /64 — one subscriber's or one server's network, which hands out its 2^64 addresses at
 * will: counted per address, rotating them made every cap and delay here meaningless.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const zone = ip.indexOf('%');
  const bare = (zone === -1 ? ip : ip.slice(0, zone)).toLowerCase();
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const gap = bare.indexOf('::');
  const groups =
    gap === -1
      ? groupsOf(bare)
      : (() => {
          const head = groupsOf(bare.slice(0, gap));
          const tail = groupsOf(bare.slice(gap + 2));
          return [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
        })();
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
