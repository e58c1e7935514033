/**
 * `kitsune relay`: a public node that takes part in hole punching — every
 * flag, once
 */

import { parseCidr } from '@kitsune/hole-punch'
import * as z from 'zod'
import { checkHttpListen, checkMultiaddr } from './addresses.ts'
import { command } from './command.ts'
import { flag, string, stringList } from './fields.ts'

/** A `host:port` UDP address for the STUN responder */
export function checkHostPort (text: string): string {
  const m = text.match(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})$/)
  if (m == null || Number(m[2]) > 65535) {
    throw new Error(`"${text}" is not host:port (e.g. 0.0.0.0:3478)`)
  }
  return text
}

/** An IPv4 CIDR (a.b.c.d/n) */
export function checkCidr (text: string): string {
  parseCidr(text)
  return text
}

export const relayCommand = command({
  name: 'relay',
  summary: 'run a public hole-punching relay: Circuit Relay v2, DHT server, AutoNAT, STUN',
  description: `Run what a public node runs to take part in decentralised hole punching
(Project Flare): a Circuit Relay v2 hop with limits, a Kademlia DHT server so
peers find the relays closest to them, an AutoNAT server (dial-backs), identify
and ping, and with --stun-listen a STUN binding responder for WebRTC.

It contacts nothing but the --bootstrap peers and the peers that come to it.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    listen: stringList({ value: '<multiaddr>', help: 'TCP or WebSockets listen addresses, e.g. /ip4/0.0.0.0/tcp/4001 or /ip4/0.0.0.0/tcp/4002/ws (for browsers)', defaultText: '(required)' }, checkMultiaddr),
    announce: stringList({ value: '<multiaddr>', help: 'announce these addresses instead of the listen addresses' }, checkMultiaddr),
    bootstrap: stringList({ value: '<multiaddr>', help: 'other relays to join the DHT through, /p2p/ included' }, checkMultiaddr),
    stunListen: string({ value: '<host:port>', help: 'answer STUN binding requests on this UDP address', unset: 'no STUN' }, checkHostPort),
    key: string({ value: '<path>', path: true, help: 'libp2p protobuf private key file, created if missing', unset: 'a new key each run' }),
    publicCidr: stringList({ value: '<cidr>', help: 'treat addresses in this range as public, e.g. a lab\'s 198.18.0.0/15' }, checkCidr),
    metricsListen: string({ value: '<multiaddr>', help: 'serve Prometheus text at /metrics (libp2p\'s, the relay\'s and kitsune_stun_*), e.g. /ip4/127.0.0.1/tcp/9092', unset: 'no metrics' }, checkHttpListen),
    json: flag(false, { help: 'JSON lines on stdout; the first is {"event":"ready","peerId","multiaddrs","stun"}' })
  }),
  check (options, from) {
    if (options.listen.length === 0) {
      throw new Error(`${from('listen')} is required`)
    }
  },
  examples: [
    'kitsune relay --listen /ip4/0.0.0.0/tcp/4001 --stun-listen 0.0.0.0:3478 --key relay.key',
    'kitsune relay --listen /ip4/198.18.1.10/tcp/4001 --public-cidr 198.18.0.0/15 --bootstrap /ip4/198.18.2.10/tcp/4001/p2p/12D3KooW... --json'
  ]
})

/**
 * What `kitsune relay` needs
 */
export type RelayOptions = z.output<typeof relayCommand.options>
