import { bytesToHex } from '@ethereumjs/util'
import { lpStream } from '@libp2p/utils'
import { expect } from 'aegir/chai'
import { decodeAccount, encodeAccount, PROTOCOL } from '../src/index.ts'
import { Request, Response } from '../src/pb/slice-sync.ts'
import { createBridge, createSliceNode, MAINNET_ROOT, stopAll, waitFor, waitSynced } from './fixtures.ts'
import type { SliceNode } from './fixtures.ts'

function penalisedBy (victim: SliceNode, liar?: SliceNode): boolean {
  return victim.services.sliceSync.penalisedPeers().some(p => p.equals(liar?.peerId))
}

type Mode = 'wrong-balance' | 'gap' | 'forged-proof' | 'truncated-proof'

/**
 * Makes a bridge lie: it answers range requests from its real state, then
 * tampers with the answer the way `modes` says for the asking peer
 */
async function makeLiar (liar: SliceNode, modes: Map<string, Mode>, served: Map<string, number>): Promise<void> {
  const reader = liar.services.sliceSync.store.reader
  await liar.handle(PROTOCOL, async (stream, connection) => {
    const lp = lpStream(stream)
    const request = Request.decode(await lp.read())
    const { entries, complete } = reader.range(request.root, request.origin, request.limit)
    const last = complete ? request.limit : entries[entries.length - 1].key
    const proof = [...reader.prove(request.root, request.origin), ...reader.prove(request.root, last)]
    const mode = modes.get(connection.remotePeer.toString())
    served.set(connection.remotePeer.toString(), (served.get(connection.remotePeer.toString()) ?? 0) + 1)
    if (mode === 'wrong-balance') {
      const account = decodeAccount(entries[1].value)
      entries[1] = { key: entries[1].key, value: encodeAccount({ ...account, balance: account.balance * 2n + 1n }) }
    } else if (mode === 'gap') {
      entries.splice(Math.floor(entries.length / 2), 1)
    } else if (mode === 'forged-proof') {
      const i = proof.findIndex(n => proof.filter(m => bytesToHex(m) === bytesToHex(n)).length === 1)
      proof[i] = new Uint8Array(proof[i]).fill(1, 5, 40)
    } else if (mode === 'truncated-proof') {
      proof.splice(proof.length - 2, 2)
    }
    await lp.write(Response.encode({ status: Response.Status.OK, error: '', entries, proof, complete, codes: [], headers: [], storageProof: [], root: new Uint8Array(0) } as any))
    await stream.close()
  }, { force: true })
}

describe('tampered ranges', function () {
  this.timeout(90_000)
  let liar: SliceNode | undefined
  let honest: SliceNode | undefined
  const victims: SliceNode[] = []

  after(async () => {
    await stopAll([liar, honest, ...victims])
  })

  it('a wrong balance, a gap, a forged proof and a truncated proof are rejected, the sender penalised and hung up on, and the honest data still arrives', async () => {
    liar = await createBridge({ sliceNibbles: 1 })
    const modes = new Map<string, Mode>()
    const served = new Map<string, number>()
    await makeLiar(liar, modes, served)
    const all: Mode[] = ['wrong-balance', 'gap', 'forged-proof', 'truncated-proof']
    for (const mode of all) {
      const victim = await createSliceNode({ sliceNibbles: 1, radius: 0, replication: 0, trustedRoot: MAINNET_ROOT })
      victims.push(victim)
      modes.set(victim.peerId.toString(), mode)
    }
    const penalised: string[] = []
    for (const victim of victims) {
      victim.services.sliceSync.addEventListener('peer:penalised', (evt) => {
        penalised.push(`${modes.get(victim.peerId.toString())}: ${evt.detail.reason}`)
      })
      await victim.dial(liar.getMultiaddrs()[0])
    }
    // each victim asks the liar (the only provider it knows), rejects the answer and penalises it
    await waitFor(() => victims.every(v => penalisedBy(v, liar)), 30_000, 'every victim penalised the liar')
    expect(penalised).to.have.length(4)
    expect(victims.every(v => !v.services.sliceSync.isSynced())).to.be.true()
    expect(victims.every(v => v.getConnections(liar?.peerId).length === 0 || v.status !== 'started')).to.be.true()
    for (const line of penalised) {
      expect(line).to.match(/proof|range/)
    }

    // an honest bridge joins: the data arrives, and the liar is not asked again
    honest = await createBridge({ sliceNibbles: 1 })
    const before = new Map(served)
    for (const victim of victims) {
      await victim.dial(honest.getMultiaddrs()[0])
    }
    await waitSynced(victims)
    for (const victim of victims) {
      expect(bytesToHex(victim.services.sliceSync.stateRoot as Uint8Array)).to.equal(MAINNET_ROOT)
      expect(victim.services.sliceSync.heldSlices()).to.have.length(1)
    }
    expect(served).to.deep.equal(before)
  })
})
