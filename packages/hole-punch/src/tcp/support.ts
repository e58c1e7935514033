import net from 'node:net'

/**
 * What this Node.js can do for listening and dialing from one port
 */
export interface PunchSupport {
  /** `server.listen({ reusePort: true })` (Node >= 22.12 / 23.1) */
  reusePortListen: boolean
  /** `new net.BoundSocket({ reusePort: true })` adopted by `new net.Socket({ handle })` */
  boundSocket: boolean
}

function nodeVersionAtLeast (major: number, minor: number): boolean {
  const [maj, min] = process.versions.node.split('.').map(Number)
  return maj > major || (maj === major && min >= minor)
}

/**
 * Feature-detects SO_REUSEPORT listeners and `net.BoundSocket`
 */
export function detectPunchSupport (): PunchSupport {
  const reusePortListen = (nodeVersionAtLeast(22, 12) && !nodeVersionAtLeast(23, 0)) || nodeVersionAtLeast(23, 1)
  const boundSocket = typeof (net as any).BoundSocket === 'function'
  return { reusePortListen, boundSocket }
}

/**
 * A TCP socket bound to `host:port` with SO_REUSEPORT, not yet connected
 */
export function boundSocket (host: string, port: number): net.Socket {
  const BoundSocket = (net as any).BoundSocket
  const handle = new BoundSocket({ host, port, reusePort: true })
  return new net.Socket({ handle })
}
