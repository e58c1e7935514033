import { hexToBytes } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import * as lp from 'it-length-prefixed'
import { PROTOCOL, sliceBounds } from '../src/index.ts'
import { Request, Response } from '../src/pb/slice-sync.ts'
import { createBridge, createSliceNode, MAINNET_ROOT, stopAll, waitFor } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'
import type { Stream } from '@libp2p/interface'

const ROOT = hexToBytes(MAINNET_ROOT) as Uint8Array<ArrayBuffer>

async function closed (stream: Stream): Promise<void> {
  // the server has closed its side (or reset the stream)
  await waitFor(() => stream.remoteWriteStatus === 'closed' || stream.readStatus === 'closed' || stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset', 5_000, 'stream closed by the server')
}

describe('bad input and limits', function () {
  this.timeout(60_000)
  let server: SliceNode | undefined
  let client: SliceNode | undefined

  before(async () => {
    server = await createBridge({ sliceNibbles: 1, maxMessageSize: 65536, maxResponseCount: 100, maxHashesPerRequest: 4, requestTimeout: 500 })
    client = await createSliceNode({ sliceNibbles: 1, trustedRoot: MAINNET_ROOT, replication: 0, radius: 0 })
    await client.dial(server.getMultiaddrs()[0])
  })

  after(async () => {
    await stopAll([server, client])
  })

  async function ask (bytes: Uint8Array | Uint8Array[], target: SliceNode = server as SliceNode): Promise<{ response: Response, stream: Stream }> {
    const stream = await (client as SliceNode).dialProtocol(target.peerId, PROTOCOL)
    const framed = lpStream(stream, { maxDataLength: 4 * 1024 * 1024 })
    for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) {
      stream.send(chunk)
    }
    const response = Response.decode(await framed.read())
    return { response, stream }
  }

  function frame (message: Uint8Array): Uint8Array {
    return lp.encode.single(message).subarray()
  }

  it('garbage bytes: BAD_REQUEST with the reason, the stream is closed, the node keeps serving', async () => {
    const { response, stream } = await ask(frame(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02])))
    expect(response.status).to.equal(Response.Status.BAD_REQUEST)
    expect(response.error).to.match(/not a slice-sync request/)
    await closed(stream)
    const ok = await ask(frame(Request.encode({ type: Request.Type.HEADERS })))
    expect(ok.response.status).to.equal(Response.Status.OK)
  })

  it('an unknown request type is refused by name', async () => {
    // field 1 (type) = 42
    const { response, stream } = await ask(frame(new Uint8Array([0x08, 42])))
    expect(response.status).to.equal(Response.Status.BAD_REQUEST)
    expect(response.error).to.match(/request|type/)
    await closed(stream)
  })

  it('maxMessageSize: a request of exactly the limit is answered, one byte more is refused', async () => {
    const build = (size: number): Uint8Array => {
      // a HEADERS request whose (ignored) root field pads it to `size` bytes
      for (let pad = size; pad > 0; pad--) {
        const bytes = Request.encode({ type: Request.Type.HEADERS, root: new Uint8Array(pad) })
        if (bytes.length === size) {
          return bytes
        }
      }
      throw new Error('no padding fits')
    }
    const atLimit = await ask(frame(build(65536)))
    expect(atLimit.response.status).to.equal(Response.Status.OK)
    const over = await ask(frame(build(65537)))
    expect(over.response.status).to.equal(Response.Status.BAD_REQUEST)
    expect(over.response.error).to.match(/maxMessageSize/)
    await closed(over.stream)
  })

  it('maxResponseCount: a range answer holds at most the limit and says it is incomplete; asking for exactly the limit is honoured', async () => {
    const { start, end } = sliceBounds(2, 1)
    const capped = await ask(frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: ROOT, origin: start, limit: end, maxCount: 100_000 })))
    expect(capped.response.entries).to.have.length(100)
    expect(capped.response.complete).to.be.false()
    const exact = await ask(frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: ROOT, origin: start, limit: end, maxCount: 99 })))
    expect(exact.response.entries).to.have.length(99)
  })

  it('maxResponseBytes: a range answer stops once its entries reach the limit (the bytes of 10 entries give 10, one byte more gives 11); a request cannot raise it', async () => {
    const { start, end } = sliceBounds(2, 1)
    const range = (maxBytes: number): Uint8Array => frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: ROOT, origin: start, limit: end, maxBytes }))
    const first = await ask(frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: ROOT, origin: start, limit: end, maxCount: 20 })))
    const tenEntries = first.response.entries.slice(0, 10).reduce((sum, e) => sum + e.key.length + e.value.length, 0)
    expect((await ask(range(tenEntries + 1))).response.entries).to.have.length(11)

    const capped = await createBridge({ sliceNibbles: 1, maxResponseBytes: tenEntries })
    try {
      await (client as SliceNode).dial(capped.getMultiaddrs()[0])
      const answer = await ask(range(0), capped)
      expect(answer.response.entries).to.have.length(10)
      expect(answer.response.complete).to.be.false()
      expect((await ask(range(tenEntries * 2), capped)).response.entries).to.have.length(10)
    } finally {
      await stopAll([capped])
    }
  })

  it('maxHashesPerRequest: 4 code hashes are answered, 5 are refused', async () => {
    const hashes = Array.from({ length: 5 }, (_, i) => new Uint8Array(32).fill(i))
    const four = await ask(frame(Request.encode({ type: Request.Type.BYTE_CODES, hashes: hashes.slice(0, 4) })))
    expect(four.response.status).to.equal(Response.Status.OK)
    const five = await ask(frame(Request.encode({ type: Request.Type.BYTE_CODES, hashes })))
    expect(five.response.status).to.equal(Response.Status.BAD_REQUEST)
  })

  it('malformed fields: a 31-byte root is refused; a root the node does not hold answers NOT_HELD', async () => {
    const { start, end } = sliceBounds(2, 1)
    const short = await ask(frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: ROOT.subarray(1), origin: start, limit: end })))
    expect(short.response.status).to.equal(Response.Status.BAD_REQUEST)
    const unknown = await ask(frame(Request.encode({ type: Request.Type.ACCOUNT_RANGE, root: new Uint8Array(32).fill(9), origin: start, limit: end })))
    expect(unknown.response.status).to.equal(Response.Status.NOT_HELD)
    const large = await ask(frame(Request.encode({ type: Request.Type.LARGE_ACCOUNTS, root: ROOT.subarray(1) })))
    expect(large.response.status).to.equal(Response.Status.BAD_REQUEST)
  })

  it('requestTimeout: a stream that never sends a request is closed by the server', async () => {
    const stream = await (client as SliceNode).dialProtocol((server as SliceNode).peerId, PROTOCOL)
    await closed(stream)
    const ok = await ask(frame(Request.encode({ type: Request.Type.HEADERS })))
    expect(ok.response.status).to.equal(Response.Status.OK)
  })

  it('an option outside its range is a clear error', async () => {
    await expect(createSliceNode({ sliceNibbles: 9 })).to.eventually.be.rejectedWith(/sliceNibbles/)
    await expect(createSliceNode({ radius: -1 })).to.eventually.be.rejectedWith(/radius/)
    await expect(createSliceNode({ trustedRoot: '0x1234' })).to.eventually.be.rejectedWith(/32 bytes/)
  })
})
