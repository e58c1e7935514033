import { request } from 'node:http'
import * as dagCbor from '@ipld/dag-cbor'
import * as dagJson from '@ipld/dag-json'
import * as dagPb from '@ipld/dag-pb'
import { createTestHelia, waitFor } from '@kitsune/test-support'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { withPreload } from '../src/index.ts'
import type { HeliaWithPreload, WithPreloadInit } from '../src/index.ts'
import type { TestHelia } from '@kitsune/test-support'
import type { BlockCodec } from 'multiformats/codecs/interface'

export type PreloadHelia = HeliaWithPreload<TestHelia>

export { waitFor }

/**
 * A stock Helia node on loopback with the preload API on an OS-chosen port
 */
export async function createPreloadHelia (init: WithPreloadInit = {}): Promise<PreloadHelia> {
  return createTestHelia({ extend: helia => withPreload(helia, { listen: '/ip4/127.0.0.1/tcp/0', ...init }) })
}

/**
 * Blocks made by hand, so the expected refs are known without the code under
 * test
 */
export class BlockSet {
  readonly blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()

  async add (codec: BlockCodec<any, any>, value: unknown): Promise<CID> {
    const bytes = codec.encode(value)
    const cid = CID.createV1(codec.code, await sha256.digest(bytes))
    this.blocks.set(cid.toString(), { cid, bytes })
    return cid
  }

  async cbor (value: unknown): Promise<CID> {
    return this.add(dagCbor, value)
  }

  async json (value: unknown): Promise<CID> {
    return this.add(dagJson, value)
  }

  async raw (bytes: Uint8Array): Promise<CID> {
    return this.add(raw, bytes)
  }

  get (cid: CID): Uint8Array {
    const block = this.blocks.get(cid.toString())
    if (block == null) {
      throw new Error(`no block ${cid}`)
    }
    return block.bytes
  }

  has (cid: CID): boolean {
    return this.blocks.has(cid.toString())
  }
}

export interface OracleLink { cid: CID, name: string }

/**
 * The links of a block, read with the codecs directly: dag-pb `Links` in
 * order with their names; for dag-cbor and dag-json every CID in the decoded
 * value, in key order of the encoding, with its path
 */
export function oracleLinks (cid: CID, bytes: Uint8Array): OracleLink[] {
  if (cid.code === dagPb.code) {
    return dagPb.decode(bytes).Links.map(l => ({ cid: l.Hash, name: l.Name ?? '' }))
  }
  if (cid.code === raw.code) {
    return []
  }
  const value = cid.code === dagCbor.code ? dagCbor.decode(bytes) : dagJson.decode(bytes)
  const out: OracleLink[] = []
  const visit = (v: any, path: string[]): void => {
    const asCid = CID.asCID(v)
    if (asCid != null) {
      out.push({ cid: asCid, name: path.join('/') })
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => { visit(item, [...path, String(i)]) })
    } else if (v != null && typeof v === 'object' && !(v instanceof Uint8Array)) {
      for (const [key, item] of Object.entries(v)) {
        visit(item, [...path, key])
      }
    }
  }
  visit(value, [])
  return out
}

export interface OracleOptions {
  maxDepth?: number
  unique?: boolean
  format?: string
}

/**
 * What Kubo's `ipfs refs` prints, written as plainly as possible (recursive,
 * everything in memory) to check the streaming walk against
 */
export function kuboRefs (roots: CID[], getBytes: (cid: CID) => Uint8Array, options: OracleOptions = {}): string[] {
  const maxDepth = options.maxDepth ?? -1
  const format = options.format ?? '<dst>'
  const seen = new Map<string, number>()
  const out: string[] = []

  const visit = (cid: CID, depth: number): [boolean, boolean] => {
    if (maxDepth >= 0 && depth > maxDepth) {
      return [false, false]
    }
    const atMax = maxDepth >= 0 && depth === maxDepth
    if (options.unique !== true) {
      return [!atMax, true]
    }
    const old = seen.get(cid.toString())
    if (old != null && (maxDepth < 0 || old <= depth)) {
      return [false, false]
    }
    seen.set(cid.toString(), depth)
    return [!atMax, old == null]
  }

  const recurse = (cid: CID, depth: number): void => {
    for (const link of oracleLinks(cid, getBytes(cid))) {
      const [deeper, write] = visit(link.cid, depth + 1)
      if (write) {
        out.push(format.split('<src>').join(cid.toString()).split('<dst>').join(link.cid.toString()).split('<linkname>').join(link.name))
      }
      if (deeper) {
        recurse(link.cid, depth + 1)
      }
    }
  }

  for (const root of roots) {
    recurse(root, 0)
  }
  return out
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  trailers: Record<string, string | undefined>
  body: string
}

export interface PostOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  /** The local address to send from (anything in 127.0.0.0/8 on loopback) */
  localAddress?: string
}

/**
 * An HTTP request with node:http, so trailers can be read (fetch cannot)
 */
export async function httpRequest (base: URL, path: string, options: PostOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { method: options.method ?? 'POST', headers: options.headers, localAddress: options.localAddress }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          trailers: res.trailers,
          body: Buffer.concat(chunks).toString('utf8')
        })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/**
 * The `Ref`s of an NDJSON refs answer, and its `Err`s
 */
export function parseLines (body: string): { refs: string[], errors: string[] } {
  const refs: string[] = []
  const errors: string[] = []
  for (const line of body.split('\n')) {
    if (line === '') {
      continue
    }
    const parsed = JSON.parse(line)
    if (parsed.Err !== '') {
      errors.push(parsed.Err)
    } else {
      refs.push(parsed.Ref)
    }
  }
  return { refs, errors }
}
