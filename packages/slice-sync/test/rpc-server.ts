import { createServer } from 'node:http'
import { getMerkleStateProof } from '@ethereumjs/statemanager'
import { bytesToHex, createAddressFromString, setLengthLeft } from '@ethereumjs/util'
import type { EvmChain } from './evm.ts'
import type { Server } from 'node:http'

/**
 * A JSON-RPC server answering from a real EVM (`@ethereumjs/vm`): the
 * methods the JSON-RPC source uses, with geth's shapes
 */
export async function startRpcServer (evm: EvmChain): Promise<{ url: string, server: Server, calls: string[] }> {
  const calls: string[] = []

  const stateAt = async (n: string): Promise<any> => {
    const entry = evm.history.get(BigInt(n))
    if (entry == null) {
      throw new Error(`unknown block ${n}`)
    }
    const sm = (evm.vm.stateManager as any).shallowCopy()
    await sm.setStateRoot(entry.block.header.stateRoot)
    return { sm, entry }
  }

  const handlers: Record<string, (params: any[]) => Promise<unknown>> = {
    eth_blockNumber: async () => `0x${evm.head.header.number.toString(16)}`,
    eth_getBlockByNumber: async ([n]) => {
      const entry = evm.history.get(BigInt(n))
      return entry == null ? null : { number: n, hash: bytesToHex(entry.block.hash()), stateRoot: bytesToHex(entry.block.header.stateRoot) }
    },
    debug_getRawHeader: async ([n]) => {
      const entry = evm.history.get(BigInt(n))
      if (entry == null) {
        throw new Error(`unknown block ${n}`)
      }
      return bytesToHex(entry.block.header.serialize())
    },
    debug_traceBlockByNumber: async ([n]) => {
      const { sm, entry } = await stateAt(n)
      const post: Record<string, any> = {}
      for (const address of entry.touched) {
        const storage: Record<string, string> = {}
        if (entry.slots.includes(address)) {
          for (const slot of [0, 1]) {
            const key = setLengthLeft(new Uint8Array([slot]), 32)
            storage[bytesToHex(key)] = bytesToHex(setLengthLeft(await sm.getStorage(createAddressFromString(address), key), 32))
          }
        }
        post[address] = { storage }
      }
      // geth lists one diff per transaction; one covering the block is enough here
      return [{ txHash: '0x', result: { pre: {}, post } }]
    },
    eth_getProof: async ([address, slots, n]) => {
      const { sm } = await stateAt(n)
      const proof = await getMerkleStateProof(sm, createAddressFromString(address), slots.map((s: string) => setLengthLeft(Uint8Array.from(Buffer.from(s.slice(2), 'hex')), 32)))
      return proof
    },
    eth_getCode: async ([address, n]) => {
      const { sm } = await stateAt(n)
      return bytesToHex(await sm.getCode(createAddressFromString(address)))
    }
  }

  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      void (async () => {
        const { id, method, params } = JSON.parse(body)
        calls.push(method)
        const handler = handlers[method]
        let answer: any
        try {
          if (handler == null) {
            throw new Error(`the method ${method} does not exist`)
          }
          answer = { jsonrpc: '2.0', id, result: await handler(params) }
        } catch (err: any) {
          answer = { jsonrpc: '2.0', id, error: { code: -32000, message: err.message } }
        }
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(answer))
      })()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return { url: `http://127.0.0.1:${address.port}`, server, calls }
}
