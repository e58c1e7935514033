/**
 * Keeps every RTCPeerConnection the page creates, with the ICE servers it
 * was given, so the page can show which candidate pair carries its
 * connection (and that no ICE server but the relay's was ever configured).
 *
 * Imported before anything else in mesh.page.js: `@libp2p/webrtc` reads
 * `globalThis.RTCPeerConnection` when its module is evaluated.
 */

/** @type {Array<{ pc: RTCPeerConnection, iceServers: RTCIceServer[] | null }>} */
export const peerConnections = []

const Native = globalThis.RTCPeerConnection
if (Native != null) {
  globalThis.RTCPeerConnection = class RecordedRTCPeerConnection extends Native {
    /** @param {RTCConfiguration} [config] */
    constructor (config) {
      super(config)
      peerConnections.push({ pc: this, iceServers: config?.iceServers ?? null })
    }
  }
}

/**
 * The candidate pair an RTCPeerConnection sends over: its local and remote
 * candidates' types (`host`, `srflx`, `prflx` or `relay`), addresses and
 * protocol
 *
 * @param {RTCPeerConnection} pc
 */
export async function selectedPair (pc) {
  const stats = await pc.getStats()
  /** @type {Map<string, any>} */
  const byId = new Map()
  stats.forEach(report => { byId.set(report.id, report) })
  let pair
  for (const report of byId.values()) {
    if (report.type === 'transport' && report.selectedCandidatePairId != null) {
      pair = byId.get(report.selectedCandidatePairId)
    }
  }
  if (pair == null) {
    pair = [...byId.values()].find(report => report.type === 'candidate-pair' && report.nominated === true && report.state === 'succeeded')
  }
  if (pair == null) {
    return undefined
  }
  const local = byId.get(pair.localCandidateId)
  const remote = byId.get(pair.remoteCandidateId)
  /** @param {any} c */
  const describe = c => ({ type: c?.candidateType, address: c?.address ?? c?.ip, port: c?.port, protocol: c?.protocol })
  return { local: describe(local), remote: describe(remote) }
}
