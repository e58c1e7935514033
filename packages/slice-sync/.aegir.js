/** @type {import('aegir').PartialOptions} */
export default {
  dependencyCheck: {
    // bench/ (npm run bench) uses the test helpers and the mainnet genesis, as test/ does
    productionIgnorePatterns: ['/benchmark', '/benchmarks', '/bench', '/dist', '/test', '.aegir.js']
  }
}
