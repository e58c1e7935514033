/**
 * `kitsune get`: its argument and flags, once
 */

import { CID } from 'multiformats/cid'
import * as z from 'zod'
import { DEFAULT_GET_TIMEOUT } from '../constants.ts'
import { oneLine, toMultiaddr } from './addresses.ts'
import { command } from './command.ts'
import { integerFlag, MAX_TIMER_DELAY, string, value } from './fields.ts'

function toCid (text: string): CID {
  try {
    return CID.parse(text)
  } catch (err: any) {
    throw new Error(`"${text}" is not a CID (${oneLine(err.message)})`)
  }
}

export const getCommand = command({
  name: 'get',
  summary: 'fetch a UnixFS file from one peer, e.g. through a proxy',
  description: `Fetch a UnixFS file over Bitswap from one peer only (a proxy, or any IPFS
node) with a throw-away Helia client, and write it to stdout or a file.`,
  configFile: false,
  group: 'Options',
  options: z.object({
    cid: value({ positional: true, file: false, value: '<cid>', help: 'the CID of a UnixFS file', defaultText: '(required)' }, toCid),
    peer: value({ short: 'p', file: false, value: '<multiaddr>', help: 'the peer to fetch from', defaultText: '(required)' }, toMultiaddr),
    output: string({ short: 'o', file: false, value: '<file>', help: 'write the file here instead of stdout (removed again if the fetch fails)', defaultText: 'stdout' }),
    timeout: integerFlag(DEFAULT_GET_TIMEOUT, { short: 't', file: false, value: '<ms>', help: 'give up after this long, in ms', max: MAX_TIMER_DELAY })
  }),
  examples: [
    'kitsune get bafkreih... --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...'
  ]
})

/**
 * What `kitsune get` needs
 */
export type GetOptions = z.output<typeof getCommand.options>
