/**
 * @packageDocumentation
 *
 * The `kitsune` command line, and the functions behind it for use from code.
 *
 * `kitsune proxy` runs the Kitsune proxy router (`@kitsune/proxy`) and the
 * Bitswap forwarder (`@kitsune/bitswap-forwarder`) on a libp2p node with TCP,
 * WebSockets, noise, yamux, mplex, identify and ping. With no downstream it
 * runs a self-contained demo: two in-process Helia nodes holding a sample
 * file sit behind the proxy.
 *
 * With `--preload-listen` (and in embedded mode) the proxy also serves the
 * Kubo-compatible preload endpoint (`proxyPreload` of `@kitsune/preload`).
 *
 * `kitsune node` runs a standalone Helia preload node (`withPreload` of
 * `@kitsune/preload`), usable as a proxy downstream.
 *
 * `kitsune get <cid> --peer <multiaddr>` fetches a UnixFS file from that one
 * peer with a throw-away Helia client.
 *
 * @example Start a proxy from code, as `kitsune proxy` does
 *
 * ```typescript
 * import { startProxy } from '@kitsune/cli'
 *
 * const proxy = await startProxy({
 *   key: './preload.key',
 *   listen: ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws'],
 *   downstreams: ['/ip4/10.0.1.42/tcp/4001/p2p/12D3KooW...'],
 *   routes: ['dht=hash'],
 *   metricsListen: '/ip4/127.0.0.1/tcp/9090'
 * })
 *
 * console.info(proxy.readyEvent())
 * await proxy.stop()
 * ```
 *
 * @example Fetch a file through it
 *
 * ```typescript
 * import { fetchFile } from '@kitsune/cli'
 *
 * for await (const chunk of fetchFile({ cid: 'bafk...', peer: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...' })) {
 *   process.stdout.write(chunk)
 * }
 * ```
 */

export { runProxy, runProxyCommand, startProxy } from './proxy-command.ts'
export type { ProxyIdentity, ProxyServices, RunningProxy, StartProxyOptions } from './proxy-command.ts'
export { runNode, runNodeCommand, startNode } from './node-command.ts'
export type { NodeIdentity, RunningNode, StartNodeOptions } from './node-command.ts'
export { fetchFile, runGet, runGetCommand } from './get-command.ts'
export type { FetchFileOptions } from './get-command.ts'
export { CONFIG_KEYS, NODE_CONFIG_KEYS, NODE_PRELOAD_KEYS, PROXY_PRELOAD_KEYS, parseGetArgs, parseMetricsListen, parseNodeArgs, parseProxyArgs, parseRoute, readConfigFile, validateNodeOptions, validateProxyOptions } from './config.ts'
export type { ConfigCommand, ConfigFile, FrontDoorOptions, GetOptions, MetricsAddress, NodeOptions, NodeOptionSources, NodePreloadOptions, OptionSources, Parsed, PoolOptions, PreloadLimits, ProxyOptions, ProxyPreloadOptions, RawNodeOptions, RawProxyOptions, RouteOption } from './config.ts'
export { fetchCommand, SAMPLE_FILE, startEmbeddedDownstreams } from './embedded.ts'
export type { CommandContext, EmbeddedDownstreams, EmbeddedOptions } from './embedded.ts'
export { startMetricsServer } from './metrics-server.ts'
export type { MetricsServer } from './metrics-server.ts'
export { localHelia } from './helia-node.ts'
export type { LocalHeliaInit, PreloadHelia } from './helia-node.ts'
export { apiBase, humanOutput, identityLines, jsonOutput, preloadCommand } from './output.ts'
export type { DownstreamEvent, EmbeddedEvent, LifecycleEvent, MessageEvent, NodeReadyEvent, Output, OutputEvent, OutputStreams, ReadyDownstream, ReadyEvent } from './output.ts'
export * from './constants.ts'
export * from './errors.ts'
