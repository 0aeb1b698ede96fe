// TCP_NODELAY: a camera that publishes and subscribes on one connection (its rejects, a siren it
// also drives) would otherwise have its small PUBACKs and messages held by Nagle's algorithm
// until the peer's delayed ACK, some 40 ms a turn. Latency-minded brokers set it by default.

/** Turns Nagle's algorithm off on a socket (net or TLS); a stream without a socket is left alone. */
export function noDelay(stream: unknown): void {
  const socket = stream as { setNoDelay?: (on: boolean) => unknown } | null;
  if (socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
}
