/**
 * A tiny request/response protocol for the demo.
 *
 * The client writes one line ("hello from <name>\n"); the server answers one
 * line ("hello <name>, this is <label>\n") and then keeps the stream open
 * until the client closes its side. Keeping the conversation open is what
 * lets the proxy's `least-outstanding` strategy see load on a downstream.
 *
 * Written against the libp2p 3 stream API: there is no `sink`/`source`;
 * `stream.send()` returns false when the caller must wait for the 'drain'
 * event, `stream.close()` half-closes, and a stream is read with
 * `for await (const chunk of stream)`.
 */

export const HELLO_PROTOCOL = '/kitsune-example/hello/1.0.0'

const encoder = new TextEncoder()

/**
 * @param {import('@libp2p/interface').Stream} stream
 * @param {Uint8Array} bytes
 */
async function send (stream, bytes) {
  if (stream.send(bytes)) {
    return
  }
  // wait for the 'drain' event (not `stream.onDrain()`, which in
  // @libp2p/utils 7.4 stops waiting after the first drain)
  await new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.removeEventListener('close', onClose)
      resolve(undefined)
    }
    /** @param {any} evt */
    const onClose = (evt) => {
      stream.removeEventListener('drain', onDrain)
      reject(evt.error ?? new Error('stream closed while waiting for drain'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

/**
 * Starts reading a stream at once (a reader attached after the remote has
 * half-closed can wait forever) and splits what arrives into lines.
 *
 * @param {import('@libp2p/interface').Stream} stream
 * @param {(line: string) => void | Promise<void>} onLine
 * @returns {Promise<void>} resolves when the remote has closed its side
 */
function readLines (stream, onLine) {
  const decoder = new TextDecoder()
  let buffered = ''

  return (async () => {
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk instanceof Uint8Array ? chunk : chunk.subarray(), { stream: true })
      let newline
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        await onLine(line)
      }
    }
  })()
}

/**
 * Serves the hello protocol on a libp2p node. Each answer names `label`, so
 * the demo can tell which downstream answered without ever exposing the
 * downstream's peer id.
 *
 * @param {import('@libp2p/interface').Libp2p} node
 * @param {string} label
 */
export async function serveHello (node, label) {
  await node.handle(HELLO_PROTOCOL, async (stream) => {
    try {
      let answered = false
      await readLines(stream, async (line) => {
        if (!answered) {
          answered = true
          const who = line.replace(/^hello from /, '')
          await send(stream, encoder.encode(`hello ${who}, this is ${label}\n`))
        }
      })
      // the client closed its side: close ours
      await stream.close()
    } catch (err) {
      stream.abort(/** @type {Error} */ (err))
    }
  }, {
    // the proxy carries every upstream peer's streams over one connection
    maxInboundStreams: 256
  })
}

/**
 * A client-side conversation: say hello, get the answer, keep the stream open
 * until `close()`.
 *
 * @param {import('@libp2p/interface').Stream} stream
 * @param {string} name
 */
export async function startConversation (stream, name) {
  /** @type {PromiseWithResolvers<string>} */
  const answer = Promise.withResolvers()
  const ended = readLines(stream, (line) => { answer.resolve(line) })
  ended.then(
    () => { answer.reject(new Error('the stream ended without an answer')) },
    (err) => { answer.reject(err) }
  )

  await send(stream, encoder.encode(`hello from ${name}\n`))

  return {
    answer: await answer.promise,
    /** Half-close our side and wait for the server to close its side */
    close: async () => {
      await stream.close()
      await ended
    }
  }
}
