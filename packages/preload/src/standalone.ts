import { depthFirstWalker } from '@helia/utils'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { concat } from 'uint8arrays/concat'
import { toString } from 'uint8arrays/to-string'
import { PreloadApiServer } from './api-server.ts'
import { FETCH_CONCURRENCY, MAX_DAG_BLOCKS, MAX_DAG_BYTES, PROTOCOL_VERSION } from './constants.ts'
import { InvalidOptionError } from './errors.ts'
import { BUILTIN_CODECS, createLinkDecoder } from './links.ts'
import { walkRefs } from './walk.ts'
import type { PreloadBackend, RefLine } from './api-server.ts'
import type { PreloadApi, PreloadStats, WithPreloadInit } from './index.ts'
import type { LinkDecoder } from './links.ts'
import type { RefsRequest } from './refs-request.ts'
import type { WalkResult } from './walk.ts'
import type { CodecLoader, Helia } from '@helia/interface'
import type { AbortOptions, Libp2p, Logger, Metrics } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * A Helia node with the preload API
 */
export type HeliaWithPreload<H extends Helia = Helia> = H & {
  /** The running preload API: its URL once Helia has started, and counters */
  preload: PreloadApi
}

/**
 * The refs and id commands answered by a Helia node
 */
export class HeliaPreloadBackend implements PreloadBackend {
  private readonly helia: Helia
  private readonly init: WithPreloadInit
  private readonly decodeLinks: LinkDecoder
  private readonly getCodec: CodecLoader
  private readonly log: Logger

  constructor (helia: Helia, init: WithPreloadInit = {}) {
    this.helia = helia
    this.init = init
    this.log = helia.logger.forComponent('kitsune:preload:standalone')
    // the codecs built in here and given in init, then the node's own
    const codecs = new Map([...BUILTIN_CODECS, ...(init.codecs ?? [])].map(codec => [codec.code, codec]))
    this.getCodec = async code => codecs.get(code) ?? helia.getCodec(code)
    this.decodeLinks = createLinkDecoder({
      codecs: init.codecs,
      loadCodec: async code => helia.getCodec(code)
    })
  }

  async * refs (request: RefsRequest, options: { signal: AbortSignal }): AsyncGenerator<RefLine> {
    const result: WalkResult = { blocks: 0, bytes: 0, failedRoots: 0 }
    yield * walkRefs(request, {
      getBlock: async (cid, opts) => this.getBlock(cid, opts),
      decodeLinks: this.decodeLinks,
      signal: options.signal,
      fetchConcurrency: this.init.fetchConcurrency ?? FETCH_CONCURRENCY,
      maxDagBlocks: this.init.maxDagBlocks ?? MAX_DAG_BLOCKS,
      maxDagBytes: this.init.maxDagBytes ?? MAX_DAG_BYTES
    }, result)
    this.log('refs %s: %d blocks, %d bytes', request.args.map(String).join(' '), result.blocks, result.bytes)

    // only a complete DAG is pinned
    if (this.init.pin === true && request.maxDepth < 0 && result.failedRoots === 0) {
      for (const cid of request.args) {
        await this.pin(cid, options)
      }
    }
  }

  id (): Record<string, unknown> | Promise<Record<string, unknown>> {
    const libp2p = this.libp2p()
    if (libp2p == null) {
      throw new Error('this Helia node has no libp2p node')
    }
    return (async () => {
      let agentVersion = `${this.helia.info.name}/${this.helia.info.version}`
      try {
        const self = await libp2p.peerStore.get(libp2p.peerId)
        const stored = self.metadata.get('AgentVersion')
        if (stored != null) {
          agentVersion = toString(stored)
        }
      } catch {
        // identify has not stored it: keep the Helia name and version
      }

      return {
        ID: libp2p.peerId.toString(),
        PublicKey: libp2p.peerId.publicKey == null ? '' : toString(publicKeyToProtobuf(libp2p.peerId.publicKey), 'base64pad'),
        Addresses: libp2p.getMultiaddrs().map(ma => ma.toString()),
        AgentVersion: agentVersion,
        ProtocolVersion: PROTOCOL_VERSION,
        Protocols: [...libp2p.getProtocols()].sort()
      }
    })()
  }

  private libp2p (): Libp2p | undefined {
    try {
      return (this.helia as Helia & { libp2p?: Libp2p }).libp2p
    } catch {
      // @helia/libp2p throws until Helia has started
      return undefined
    }
  }

  /**
   * Through Helia's blockstore: the local store first, then the block brokers
   * (Bitswap from the connected peers); fetched blocks are stored
   */
  private async getBlock (cid: CID, options: AbortOptions): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.helia.blockstore.get(cid, options)) {
      chunks.push(chunk)
    }
    return chunks.length === 1 ? chunks[0] : concat(chunks)
  }

  private async pin (cid: CID, options: AbortOptions): Promise<void> {
    try {
      const pinned = this.helia.pins.add(cid, {
        ...options,
        // a light Helia node may lack dag-cbor and dag-json
        walker: components => depthFirstWalker()({ ...components, getCodec: this.getCodec })
      })
      for await (const block of pinned) {
        this.log.trace('pinned %c under %c', block, cid)
      }
      this.log('pinned %c', cid)
    } catch (err: any) {
      if (err?.name !== 'AlreadyPinnedError') {
        throw err
      }
    }
  }
}

/**
 * Adds the preload API to a Helia node: it starts when Helia starts and stops
 * when Helia stops. `POST /api/v0/refs` fetches the DAG into the node's
 * blockstore (through its block brokers, i.e. Bitswap from the peers it is
 * connected to) while streaming the refs; `POST /api/v0/id` answers like
 * Kubo, so the node can be a downstream of `@kitsune/proxy`.
 *
 * Apply it before `helia.start()`.
 */
/**
 * The metrics of a started Helia node's libp2p node, if it has one
 */
function libp2pMetrics (helia: Helia): Metrics | undefined {
  try {
    return (helia as Helia & { libp2p?: Libp2p }).libp2p?.metrics
  } catch {
    // withLibp2p's getter throws until the node is started
    return undefined
  }
}

export function withPreload <H extends Helia> (helia: H, init: WithPreloadInit = {}): HeliaWithPreload<H> {
  if (helia.status === 'started' || helia.status === 'starting') {
    throw new InvalidOptionError('withPreload must be applied before helia.start()')
  }
  if (init.fetchConcurrency != null && (!Number.isInteger(init.fetchConcurrency) || init.fetchConcurrency < 1)) {
    throw new InvalidOptionError(`fetchConcurrency must be a positive integer, got ${init.fetchConcurrency}`)
  }

  const server = new PreloadApiServer(new HeliaPreloadBackend(helia, init), init, {
    logger: helia.logger,
    // read when the server starts: a light Helia node has no metrics of its
    // own, its libp2p node's exist once the libp2p mixin has started
    get metrics () {
      return helia.metrics ?? libp2pMetrics(helia)
    }
  })

  const preload: PreloadApi = {
    get url (): URL | undefined {
      return server.url
    },
    stats (): PreloadStats {
      return server.stats()
    }
  }

  helia.addMixin({
    name: 'preload',
    start: async () => {
      await server.start()
    },
    stop: async () => {
      await server.stop()
    }
  })

  return Object.assign(helia, { preload })
}
