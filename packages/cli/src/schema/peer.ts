/**
 * `kitsune peer`: a peer that punches through its NAT — every flag, once
 */

import * as z from 'zod'
import { checkHttpListen, checkMultiaddr } from './addresses.ts'
import { command } from './command.ts'
import { flag, integerFlag, string, stringList, stringWithDefault } from './fields.ts'
import { checkCidr } from './relay.ts'

/** `tcp`, `webrtc` or `tcp,webrtc` */
export function checkTransports (text: string): string {
  const parts = text.split(',').map(p => p.trim())
  for (const p of parts) {
    if (p !== 'tcp' && p !== 'webrtc') {
      throw new Error(`"${p}" is not a transport (tcp, webrtc)`)
    }
  }
  if (!parts.includes('tcp')) {
    throw new Error('tcp is required (relays are reached over TCP)')
  }
  return [...new Set(parts)].join(',')
}

/** A peer id (checked when used) */
export function checkPeerId (text: string): string {
  if (!/^[1-9A-HJ-NP-Za-km-z]{40,60}$/.test(text) && !/^b[a-z2-7]{50,70}$/.test(text)) {
    throw new Error(`"${text}" is not a peer id`)
  }
  return text
}

export const peerCommand = command({
  name: 'peer',
  summary: 'a peer behind a NAT: reachability, reservations on the closest relays, hole punching',
  description: `Run a peer that checks whether it is reachable (AutoNAT with a quorum),
and if not reserves on the relays XOR-closest to its peer id (found through
the DHT of the --bootstrap relays). With --dial it finds that peer's relays
the same way, connects through one, and upgrades to a direct connection with
DCUtR over its punch port.

It contacts nothing but the --bootstrap relays and the peers they lead to.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    bootstrap: stringList({ value: '<multiaddr>', help: 'relays to start from, /p2p/ included', defaultText: '(required)' }, checkMultiaddr),
    punchPort: integerFlag(0, { value: '<port>', help: 'the TCP port to listen and punch from (0 picks one)', min: 0, max: 65535 }),
    transports: stringWithDefault('tcp', { value: '<list>', help: 'tcp, or tcp,webrtc' }, checkTransports),
    dial: string({ value: '<peerId>', help: 'connect to this peer (through its closest relays) and punch a direct connection', unset: 'wait for others' }, checkPeerId),
    key: string({ value: '<path>', path: true, help: 'libp2p protobuf private key file, created if missing', unset: 'a new key each run' }),
    publicCidr: stringList({ value: '<cidr>', help: 'treat addresses in this range as public, e.g. a lab\'s 198.18.0.0/15' }, checkCidr),
    metricsListen: string({ value: '<multiaddr>', help: 'serve Prometheus text at /metrics (libp2p\'s and kitsune_hole_punch_*), e.g. /ip4/127.0.0.1/tcp/9093', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { help: 'JSON lines on stdout: ready, reachability, reservation, relayed, direct or punch-failed' })
  }),
  check (options, from) {
    if (options.bootstrap.length === 0) {
      throw new Error(`${from('bootstrap')} is required`)
    }
  },
  examples: [
    'kitsune peer --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW... --punch-port 4001 --json',
    'kitsune peer --bootstrap /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW... --dial 12D3KooW... --json'
  ]
})

/**
 * What `kitsune peer` needs
 */
export type PeerOptions = z.output<typeof peerCommand.options>
