import { CID } from 'multiformats/cid'
import { DEFAULT_FORMAT, EDGES_FORMAT } from './constants.ts'
import { InvalidRequestError } from './errors.ts'

/**
 * A parsed `POST /api/v0/refs` request, with Kubo's defaults applied
 */
export interface RefsRequest {
  /** The roots, in the order given */
  args: CID[]
  /** `recursive` / `r` */
  recursive: boolean
  /** `unique` / `u`: print each ref once */
  unique: boolean
  /**
   * How deep to list: `-1` is unlimited; `1` when not recursive, as in Kubo
   */
  maxDepth: number
  /** `edges` / `e`: print `<src> -> <dst>` */
  edges: boolean
  /**
   * The output template, with `<src>`, `<dst>` and `<linkname>`: `format`,
   * or `<src> -> <dst>` when `edges` is set
   */
  format: string
  /**
   * The caller's address: the socket's, or taken from `X-Forwarded-For` when
   * the socket's address is a trusted proxy. IPv4-mapped IPv6 addresses are
   * given in their IPv4 form.
   */
  clientAddress: string
  /**
   * Whether `clientAddress` came from `X-Forwarded-For`: the request passed
   * through a trusted proxy
   */
  proxied: boolean
}

export interface ParseRefsRequestOptions {
  /** More `arg`s than this is a 400 */
  maxArgs: number
  clientAddress: string
  /** @default false */
  proxied?: boolean
}

type OptionType = 'bool' | 'int' | 'string'

interface OptionDef {
  name: string
  type: OptionType
}

/**
 * The options of Kubo's `refs` command by every name they answer to
 */
const OPTIONS = new Map<string, OptionDef>()
for (const [names, type] of [
  [['format'], 'string'],
  [['edges', 'e'], 'bool'],
  [['unique', 'u'], 'bool'],
  [['recursive', 'r'], 'bool'],
  [['max-depth'], 'int']
] as Array<[string[], OptionType]>) {
  for (const name of names) {
    OPTIONS.set(name, { name: names[0], type })
  }
}

/**
 * The name of the positional argument of Kubo's `refs`
 */
const ARGUMENT_NAME = 'ipfs-path'

/**
 * Parses the query of a `refs` request as Kubo (go-ipfs-cmds) does: options
 * by any of their names, Go's boolean and integer syntax, repeated `arg`s,
 * unknown parameters ignored. Throws {@link InvalidRequestError} with Kubo's
 * message for what Kubo refuses.
 */
export function parseRefsRequest (query: URLSearchParams, options: ParseRefsRequestOptions): RefsRequest {
  const rawArgs: string[] = []
  const values = new Map<string, string[]>()

  for (const [key, value] of query) {
    if (key === 'arg') {
      rawArgs.push(value)
      continue
    }
    const def = OPTIONS.get(key)
    if (def == null) {
      // global options such as `stream-channels`, `encoding`, `timeout`
      continue
    }
    let list = values.get(key)
    if (list == null) {
      list = []
      values.set(key, list)
    }
    list.push(value)
  }

  // one value per option; the long and short names land on the same option
  // and the later one in the query wins
  const given = new Map<string, string>()
  for (const [key, list] of values) {
    const def = OPTIONS.get(key)
    if (def == null) {
      continue
    }
    if (list.length > 1) {
      throw new InvalidRequestError(`expected key ${def.name} to have only a single value, received [${list.join(' ')}]`)
    }
  }
  for (const [key, value] of query) {
    const def = OPTIONS.get(key)
    if (def != null) {
      given.set(def.name, value)
    }
  }

  const bool = (name: string): boolean => {
    const value = given.get(name)
    if (value == null) {
      return false
    }
    const parsed = parseGoBool(value)
    if (parsed == null) {
      throw conversionError(value, 'bool', name)
    }
    return parsed
  }

  const edges = bool('edges')
  const unique = bool('unique')
  const recursive = bool('recursive')

  let maxDepth = -1
  const depth = given.get('max-depth')
  if (depth != null) {
    const parsed = parseGoInt32(depth)
    if (parsed == null) {
      throw conversionError(depth, 'int', 'max-depth')
    }
    maxDepth = parsed < 0 ? -1 : parsed
  }
  let format = given.get('format') ?? DEFAULT_FORMAT

  if (rawArgs.length === 0) {
    throw new InvalidRequestError(`argument "${ARGUMENT_NAME}" is required`)
  }
  if (rawArgs.length > options.maxArgs) {
    throw new InvalidRequestError(`too many "${ARGUMENT_NAME}" arguments: ${rawArgs.length}, at most ${options.maxArgs} are accepted`)
  }

  if (!recursive) {
    // Kubo lists only the direct links then
    maxDepth = 1
  }

  if (edges) {
    if (format !== DEFAULT_FORMAT) {
      throw new InvalidRequestError('using format argument with edges is not allowed')
    }
    format = EDGES_FORMAT
  }

  return {
    args: rawArgs.map(parseCidArgument),
    recursive,
    unique,
    maxDepth,
    edges,
    format,
    clientAddress: options.clientAddress,
    proxied: options.proxied ?? false
  }
}

/**
 * Accepts `<cid>`, `/ipfs/<cid>` and `ipfs://<cid>`. Kubo also resolves paths
 * below a root and IPNS names; a preload node is only ever given roots.
 */
export function parseCidArgument (arg: string): CID {
  let text = arg
  if (text.startsWith('/ipfs/')) {
    text = text.slice('/ipfs/'.length)
  } else if (text.startsWith('ipfs://')) {
    text = text.slice('ipfs://'.length)
  }
  if (text.endsWith('/')) {
    text = text.slice(0, -1)
  }
  if (text.includes('/')) {
    throw new InvalidRequestError(`invalid path ${goQuote(arg)}: only a CID or /ipfs/<cid> is accepted, not a path below it`)
  }
  try {
    return CID.parse(text)
  } catch (err: any) {
    throw new InvalidRequestError(`invalid path ${goQuote(arg)}: ${err.message}`)
  }
}

/**
 * go-ipfs-cmds' bool option: empty means true, otherwise Go's
 * `strconv.ParseBool` of the lowercased value
 */
export function parseGoBool (value: string): boolean | undefined {
  switch (value.toLowerCase()) {
    case '':
    case '1':
    case 't':
    case 'true':
      return true
    case '0':
    case 'f':
    case 'false':
      return false
    default:
      return undefined
  }
}

const INT_SYNTAX = /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9_]*)$/

/**
 * Go's `strconv.ParseInt(value, 0, 32)`: decimal, `0x`, `0o`, `0b`, a
 * leading `0` for octal, and `_` between digits
 */
export function parseGoInt32 (value: string): number | undefined {
  if (!INT_SYNTAX.test(value) || !underscoresOk(value)) {
    return undefined
  }
  let text = value.replaceAll('_', '')
  let sign = 1
  if (text.startsWith('-') || text.startsWith('+')) {
    sign = text.startsWith('-') ? -1 : 1
    text = text.slice(1)
  }
  let radix = 10
  if (/^0[xX]/.test(text)) {
    radix = 16
    text = text.slice(2)
  } else if (/^0[bB]/.test(text)) {
    radix = 2
    text = text.slice(2)
  } else if (/^0[oO]/.test(text)) {
    radix = 8
    text = text.slice(2)
  } else if (text.length > 1 && text.startsWith('0')) {
    radix = 8
    text = text.slice(1)
  }
  if (text === '') {
    return undefined
  }
  const parsed = sign * parseInt(text, radix)
  if (!Number.isSafeInteger(parsed) || parsed > 2 ** 31 - 1 || parsed < -(2 ** 31)) {
    return undefined
  }
  return parsed
}

/**
 * Go allows `_` only between digits, or right after a base prefix
 */
function underscoresOk (value: string): boolean {
  if (!value.includes('_')) {
    return true
  }
  const text = value.replace(/^[+-]/, '')
  const body = /^0[xXbBoO]/.test(text) ? 'p' + text.slice(2) : text
  return !/(^_)|(_$)|(__)/.test(body.replace(/^p_/, 'p'))
}

function conversionError (value: string, type: string, option: string): InvalidRequestError {
  const what = value === '' ? 'empty value' : `value ${goQuote(value)}`
  return new InvalidRequestError(`could not convert ${what} to type ${goQuote(type)} (for option ${goQuote('-' + option)})`)
}

/**
 * Close to Go's `%q` for the strings met here
 */
function goQuote (value: string): string {
  return JSON.stringify(value)
}
