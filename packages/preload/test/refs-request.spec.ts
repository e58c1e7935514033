import { expect } from 'aegir/chai'
import { CID } from 'multiformats/cid'
import { InvalidRequestError, parseRefsRequest } from '../src/index.ts'
import { parseGoBool, parseGoInt32 } from '../src/refs-request.ts'

const CID1 = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const CID0 = 'QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'

function parse (query: string, maxArgs = 16): ReturnType<typeof parseRefsRequest> {
  return parseRefsRequest(new URLSearchParams(query), { maxArgs, clientAddress: '127.0.0.1' })
}

function error (query: string, maxArgs = 16): string {
  try {
    parse(query, maxArgs)
  } catch (err: any) {
    expect(err).to.be.an.instanceOf(InvalidRequestError)
    return err.message
  }
  throw new Error(`"${query}" was accepted`)
}

describe('parseRefsRequest', () => {
  it('has Kubo\'s defaults: not recursive is max-depth 1, format <dst>', () => {
    const request = parse(`arg=${CID1}`)
    expect(request.args.map(String)).to.deep.equal([CID1])
    expect(request).to.include({ recursive: false, unique: false, edges: false, maxDepth: 1, format: '<dst>', clientAddress: '127.0.0.1' })
  })

  it('reads the js-ipfs preload call and the kubo-rpc-client call', () => {
    expect(parse(`r=true&arg=${CID0}`)).to.include({ recursive: true, maxDepth: -1 })
    const client = parse(`recursive=true&max-depth=3&stream-channels=true&timeout=5000ms&arg=${CID1}&arg=/ipfs/${CID0}`)
    expect(client).to.include({ recursive: true, maxDepth: 3 })
    expect(client.args.map(String)).to.deep.equal([CID1, CID0])
  })

  it('accepts /ipfs/<cid> and ipfs://<cid>', () => {
    expect(parse(`arg=/ipfs/${CID1}`).args[0].equals(CID.parse(CID1))).to.be.true()
    expect(parse(`arg=ipfs://${CID1}`).args[0].equals(CID.parse(CID1))).to.be.true()
  })

  it('takes options by their short names', () => {
    expect(parse(`r&u&e&arg=${CID1}`)).to.include({ recursive: true, unique: true, edges: true, format: '<src> -> <dst>' })
  })

  it('parses booleans as go-ipfs-cmds does', () => {
    for (const yes of ['', '1', 't', 'T', 'TRUE', 'true', 'True', 'tRuE']) {
      expect(parseGoBool(yes)).to.equal(true, yes)
    }
    for (const no of ['0', 'f', 'F', 'FALSE', 'false', 'False']) {
      expect(parseGoBool(no)).to.equal(false, no)
    }
    for (const bad of ['yes', 'no', '2', 'on', ' true']) {
      expect(parseGoBool(bad)).to.be.undefined(bad)
    }
  })

  it('parses integers as Go\'s strconv.ParseInt(s, 0, 32)', () => {
    const cases: Array<[string, number | undefined]> = [
      ['0', 0], ['7', 7], ['-1', -1], ['+5', 5], ['0x10', 16], ['010', 8], ['0o10', 8], ['0b11', 3], ['1_000', 1000],
      ['2147483647', 2147483647], ['2147483648', undefined], ['-2147483648', -2147483648],
      ['abc', undefined], ['', undefined], ['1.5', undefined], ['1_', undefined], ['_1', undefined], ['1__0', undefined], ['08', undefined], ['0x', undefined]
    ]
    for (const [text, value] of cases) {
      expect(parseGoInt32(text)).to.equal(value, text)
    }
  })

  it('treats any negative max-depth as unlimited', () => {
    expect(parse(`r=1&max-depth=-7&arg=${CID1}`).maxDepth).to.equal(-1)
    expect(parse(`r=1&max-depth=0&arg=${CID1}`).maxDepth).to.equal(0)
  })

  it('refuses what Kubo refuses, with Kubo\'s messages', () => {
    expect(error('r=true')).to.equal('argument "ipfs-path" is required')
    expect(error(`r=maybe&arg=${CID1}`)).to.equal('could not convert value "maybe" to type "bool" (for option "-recursive")')
    expect(error(`max-depth=abc&arg=${CID1}`)).to.equal('could not convert value "abc" to type "int" (for option "-max-depth")')
    expect(error(`max-depth=&arg=${CID1}`)).to.equal('could not convert empty value to type "int" (for option "-max-depth")')
    expect(error(`max-depth=1&max-depth=2&arg=${CID1}`)).to.equal('expected key max-depth to have only a single value, received [1 2]')
    expect(error(`e=true&format=<src>&arg=${CID1}`)).to.equal('using format argument with edges is not allowed')
    expect(error('arg=abc')).to.match(/^invalid path "abc": /)
    expect(error('arg=')).to.match(/^invalid path "": /)
    expect(error(`arg=/ipfs/${CID1}/a/b`)).to.match(/^invalid path ".*": only a CID/)
    expect(error(`arg=/ipns/${CID1}`)).to.match(/^invalid path /)
  })

  it('option errors come before a missing argument, as in go-ipfs-cmds', () => {
    expect(error('r=maybe')).to.include('could not convert')
  })

  it('refuses more than maxArgs arguments and accepts maxArgs', () => {
    const args = (n: number): string => Array.from({ length: n }, () => `arg=${CID1}`).join('&')
    expect(parse(args(3), 3).args).to.have.lengthOf(3)
    expect(error(args(4), 3)).to.equal('too many "ipfs-path" arguments: 4, at most 3 are accepted')
  })

  it('ignores unknown parameters', () => {
    expect(parse(`r=1&encoding=json&stream-channels=true&cid-base=base32&whatever=%ff&arg=${CID1}`)).to.include({ recursive: true })
  })
})
