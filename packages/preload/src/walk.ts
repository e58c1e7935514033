import PQueue from 'p-queue'
import { FETCH_CONCURRENCY, MAX_DAG_BLOCKS, MAX_DAG_BYTES } from './constants.ts'
import { DagTooLargeError } from './errors.ts'
import type { RefLine } from './api-server.ts'
import type { Link, LinkDecoder } from './links.ts'
import type { RefsRequest } from './refs-request.ts'
import type { AbortOptions } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * Gets a block's bytes, from the local store or the network
 */
export type GetBlock = (cid: CID, options: AbortOptions) => Uint8Array | Promise<Uint8Array>

export interface WalkRefsOptions {
  getBlock: GetBlock
  decodeLinks: LinkDecoder
  signal: AbortSignal
  /**
   * Blocks fetched at once, and how far ahead of the output the walk fetches
   * among one node's links
   *
   * @default 16
   */
  fetchConcurrency?: number
  /**
   * Distinct blocks one walk may reach, roots included
   *
   * @default 100000
   */
  maxDagBlocks?: number
  /**
   * Bytes of distinct blocks one walk may reach, roots included
   *
   * @default 536870912
   */
  maxDagBytes?: number
}

/**
 * The outcome of a walk, filled in as it goes
 */
export interface WalkResult {
  /** Distinct blocks reached */
  blocks: number
  /** Bytes of the distinct blocks reached */
  bytes: number
  /** Roots whose traversal ended with an error line */
  failedRoots: number
}

interface Frame {
  cid: CID
  links: Link[]
  /** The depth of this node; its links are at depth + 1 */
  depth: number
  next: number
  /** Fetches started ahead of the output, by link index */
  ahead: Map<number, Promise<Uint8Array>>
}

/**
 * Kubo's `refs` traversal: for each root, the links of every node reached,
 * depth first, in link order, each printed once its block has been fetched.
 * `unique` prints a ref once and does not descend again into a node seen at
 * the same or a smaller depth; `maxDepth` stops descending (`-1` is
 * unlimited).
 *
 * Like Kubo, every root is fetched before the first line; a root that cannot
 * be fetched throws. An error below a root yields an `Err` line and the walk
 * goes on with the next root. Going over `maxDagBlocks` / `maxDagBytes`, or
 * the signal aborting, throws.
 *
 * Blocks are fetched ahead of the output: up to `fetchConcurrency` links of
 * each node on the current path, at most `fetchConcurrency` fetches at once
 * (deepest first), so the output order stays Kubo's while the network is
 * kept busy.
 */
export async function * walkRefs (request: Pick<RefsRequest, 'args' | 'unique' | 'maxDepth' | 'format'>, options: WalkRefsOptions, result: WalkResult = { blocks: 0, bytes: 0, failedRoots: 0 }): AsyncGenerator<RefLine> {
  const concurrency = options.fetchConcurrency ?? FETCH_CONCURRENCY
  const maxBlocks = options.maxDagBlocks ?? MAX_DAG_BLOCKS
  const maxBytes = options.maxDagBytes ?? MAX_DAG_BYTES
  const { maxDepth, unique, format } = request

  // ends the fetches still running when the walk ends, however it ends
  const controller = new AbortController()
  const signal = AbortSignal.any([options.signal, controller.signal])
  const queue = new PQueue({ concurrency })

  const fetchBlock = (cid: CID, priority: number, fetchSignal: AbortSignal = signal): Promise<Uint8Array> => {
    const promise = queue.add(async () => options.getBlock(cid, { signal: fetchSignal }), { priority, signal: fetchSignal })
    // a block fetched ahead may never be awaited
    promise.catch(() => {})
    return promise
  }

  const reached = new Set<string>()
  const reach = (cid: CID, bytes: Uint8Array): void => {
    const key = cid.toString()
    if (reached.has(key)) {
      return
    }
    reached.add(key)
    result.blocks++
    result.bytes += bytes.byteLength
    if (result.blocks > maxBlocks) {
      throw new DagTooLargeError(`the DAG has more than ${maxBlocks} blocks (maxDagBlocks)`)
    }
    if (result.bytes > maxBytes) {
      throw new DagTooLargeError(`the DAG has more than ${maxBytes} bytes (maxDagBytes)`)
    }
  }

  // Kubo's RefWriter.visit: [descend, print]
  const seen = new Map<string, number>()
  const visit = (cid: CID, depth: number): [boolean, boolean] => {
    if (maxDepth >= 0 && depth > maxDepth) {
      return [false, false]
    }
    const atMaxDepth = maxDepth >= 0 && depth === maxDepth
    if (!unique) {
      return [!atMaxDepth, true]
    }
    const key = cid.toString()
    const oldDepth = seen.get(key)
    if (oldDepth != null && (maxDepth < 0 || oldDepth <= depth)) {
      return [false, false]
    }
    seen.set(key, depth)
    return [!atMaxDepth, oldDepth == null]
  }

  const fetchAhead = (frame: Frame, rootSignal: AbortSignal): void => {
    if (maxDepth >= 0 && frame.depth >= maxDepth) {
      return
    }
    const end = Math.min(frame.links.length, frame.next + concurrency)
    for (let i = frame.next; i < end; i++) {
      const cid = frame.links[i].cid
      if (frame.ahead.has(i) || (unique && maxDepth < 0 && seen.has(cid.toString()))) {
        continue
      }
      frame.ahead.set(i, fetchBlock(cid, frame.depth + 1, rootSignal))
    }
  }

  const enter = (cid: CID, links: Link[], depth: number, rootSignal: AbortSignal): Frame => {
    const frame: Frame = { cid, links, depth, next: 0, ahead: new Map() }
    fetchAhead(frame, rootSignal)
    return frame
  }

  async function * walkRoot (root: { cid: CID, links: Link[] }, rootSignal: AbortSignal): AsyncGenerator<RefLine> {
    const stack: Frame[] = [enter(root.cid, root.links, 0, rootSignal)]

    while (stack.length > 0) {
      const frame = stack[stack.length - 1]
      if (frame.next >= frame.links.length) {
        stack.pop()
        continue
      }
      const index = frame.next++
      const link = frame.links[index]
      const [descend, print] = visit(link.cid, frame.depth + 1)
      const pending = frame.ahead.get(index)
      frame.ahead.delete(index)

      if (!descend && !print) {
        continue
      }

      // Kubo prints a ref only once its block has been fetched and decoded
      const bytes = await (pending ?? fetchBlock(link.cid, frame.depth + 1, rootSignal))
      fetchAhead(frame, rootSignal)
      reach(link.cid, bytes)
      const links = await options.decodeLinks(link.cid, bytes)

      if (print) {
        yield { Ref: formatRef(format, frame.cid, link), Err: '' }
      }
      if (descend) {
        stack.push(enter(link.cid, links, frame.depth + 1, rootSignal))
      }
    }
  }

  try {
    // like Kubo, every root is fetched and decoded before anything is printed
    const roots = await Promise.all(request.args.map(async cid => {
      const bytes = await fetchBlock(cid, 0)
      return { cid, bytes, links: await options.decodeLinks(cid, bytes) }
    }))
    for (const { cid, bytes } of roots) {
      reach(cid, bytes)
    }

    for (const root of roots) {
      // ends the fetches ahead of a root whose traversal failed
      const rootController = new AbortController()
      try {
        yield * walkRoot(root, AbortSignal.any([signal, rootController.signal]))
      } catch (err: any) {
        if (err instanceof DagTooLargeError || signal.aborted) {
          throw err
        }
        result.failedRoots++
        yield { Ref: '', Err: err.message ?? String(err) }
      } finally {
        rootController.abort()
      }
    }
  } finally {
    controller.abort()
    queue.clear()
  }
}

/**
 * Kubo's output template: `<src>`, `<dst>` and `<linkname>` replaced
 */
export function formatRef (format: string, src: CID, link: Link): string {
  return format
    .replaceAll('<src>', src.toString())
    .replaceAll('<dst>', link.cid.toString())
    .replaceAll('<linkname>', link.name)
}
