import * as C from './constants.ts'
import { InvalidOptionError } from './errors.ts'
import type { BitswapForwarderInit } from './index.ts'

/**
 * The forwarder's options with defaults applied
 */
export interface Options {
  proxyService: string
  fanout: number
  maxMessageSize: number
  maxMessageSizeOverMplex: number
  maxBlockSize: number
  maxWantlistEntriesPerPeer: number
  maxTrackedWants: number
  maxWaitingWants: number
  maxOutstandingBytesPerPeer: number
  maxOutstandingBytes: number
  maxInboundStreamsPerPeer: number
  maxInboundStreamsPerDownstream: number
  maxInboundFrameBytes: number
  maxInboundFrameBytesPerPeer: number
  frameTimeout: number
  maxOutboundStreams: number
  maxWantsPerDownstream: number
  downstreamTimeout: number
  dontHaveTtl: number
  noDownstreamTimeout: number
  outboundIdleTimeout: number
  openStreamTimeout: number
  sendTimeout: number
  cutOffTime: number
  maxCutOffPeers: number
  windowTimeout: number
  recentKeys: number
  droppedWantsPerDownstream: number
}

export function positive (name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback
  if (typeof result !== 'number' || Number.isNaN(result) || result <= 0) {
    throw new InvalidOptionError(`${name} must be a positive number, got ${result}`)
  }
  return result
}

export function nonNegative (name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback
  if (typeof result !== 'number' || Number.isNaN(result) || result < 0) {
    throw new InvalidOptionError(`${name} must be a number of 0 or more, got ${result}`)
  }
  return result
}

export function validate (init: BitswapForwarderInit): Options {
  const options: Options = {
    proxyService: init.proxyService ?? C.PROXY_SERVICE,
    fanout: init.fanout === 'all' ? Infinity : positive('fanout', init.fanout, C.FANOUT),
    maxMessageSize: positive('maxMessageSize', init.maxMessageSize, C.MAX_MESSAGE_SIZE),
    maxMessageSizeOverMplex: positive('maxMessageSizeOverMplex', init.maxMessageSizeOverMplex, C.MAX_MESSAGE_SIZE_OVER_MPLEX),
    maxBlockSize: positive('maxBlockSize', init.maxBlockSize, C.MAX_BLOCK_SIZE),
    maxWantlistEntriesPerPeer: positive('maxWantlistEntriesPerPeer', init.maxWantlistEntriesPerPeer, C.MAX_WANTLIST_ENTRIES_PER_PEER),
    maxTrackedWants: positive('maxTrackedWants', init.maxTrackedWants, C.MAX_TRACKED_WANTS),
    maxWaitingWants: nonNegative('maxWaitingWants', init.maxWaitingWants, C.MAX_WAITING_WANTS),
    maxOutstandingBytesPerPeer: positive('maxOutstandingBytesPerPeer', init.maxOutstandingBytesPerPeer, C.MAX_OUTSTANDING_BYTES_PER_PEER),
    maxOutstandingBytes: positive('maxOutstandingBytes', init.maxOutstandingBytes, C.MAX_OUTSTANDING_BYTES),
    maxInboundStreamsPerPeer: positive('maxInboundStreamsPerPeer', init.maxInboundStreamsPerPeer, C.MAX_INBOUND_STREAMS_PER_PEER),
    maxInboundStreamsPerDownstream: positive('maxInboundStreamsPerDownstream', init.maxInboundStreamsPerDownstream, C.MAX_INBOUND_STREAMS_PER_DOWNSTREAM),
    maxInboundFrameBytes: positive('maxInboundFrameBytes', init.maxInboundFrameBytes, C.MAX_INBOUND_FRAME_BYTES),
    maxInboundFrameBytesPerPeer: positive('maxInboundFrameBytesPerPeer', init.maxInboundFrameBytesPerPeer, C.MAX_INBOUND_FRAME_BYTES_PER_PEER),
    frameTimeout: positive('frameTimeout', init.frameTimeout, C.FRAME_TIMEOUT),
    maxOutboundStreams: positive('maxOutboundStreams', init.maxOutboundStreams, C.MAX_OUTBOUND_STREAMS),
    maxWantsPerDownstream: positive('maxWantsPerDownstream', init.maxWantsPerDownstream, C.MAX_WANTS_PER_DOWNSTREAM),
    downstreamTimeout: positive('downstreamTimeout', init.downstreamTimeout, C.DOWNSTREAM_TIMEOUT),
    dontHaveTtl: init.dontHaveTtl ?? C.DONT_HAVE_TTL,
    noDownstreamTimeout: nonNegative('noDownstreamTimeout', init.noDownstreamTimeout, C.NO_DOWNSTREAM_TIMEOUT),
    outboundIdleTimeout: positive('outboundIdleTimeout', init.outboundIdleTimeout, C.OUTBOUND_IDLE_TIMEOUT),
    openStreamTimeout: positive('openStreamTimeout', init.openStreamTimeout, C.OPEN_STREAM_TIMEOUT),
    sendTimeout: positive('sendTimeout', init.sendTimeout, C.SEND_TIMEOUT),
    cutOffTime: init.cutOffTime ?? C.CUT_OFF_TIME,
    maxCutOffPeers: positive('maxCutOffPeers', init.maxCutOffPeers, C.MAX_CUT_OFF_PEERS),
    windowTimeout: positive('windowTimeout', init.windowTimeout, C.WINDOW_TIMEOUT),
    recentKeys: positive('recentKeys', init.recentKeys, C.RECENT_KEYS),
    droppedWantsPerDownstream: positive('droppedWantsPerDownstream', init.droppedWantsPerDownstream, C.DROPPED_WANTS_PER_DOWNSTREAM)
  }
  // a block, its prefix and the message framing must fit in one message
  if (options.maxBlockSize + 64 > options.maxMessageSize) {
    throw new InvalidOptionError(`maxBlockSize (${options.maxBlockSize}) must be at least 64 bytes smaller than maxMessageSize (${options.maxMessageSize})`)
  }
  return options
}
