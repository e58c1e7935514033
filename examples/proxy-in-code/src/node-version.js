/**
 * libp2p 3 and Helia 7 need Node.js 22 or later; on older versions they fail
 * while loading with errors that do not say so. Imported first by index.js,
 * so this check runs before any of them is evaluated.
 */

const [major] = process.versions.node.split('.').map(Number)

if (major < 22) {
  console.error(`This example needs Node.js >= 22 (this is ${process.version}). See "Node.js version" in README.md.`)
  process.exit(1)
}
