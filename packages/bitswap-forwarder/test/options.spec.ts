import { expect } from 'aegir/chai'
import { NO_DOWNSTREAM_TIMEOUT } from '../src/constants.ts'
import { validate } from '../src/options.ts'

describe('options', () => {
  it('noDownstreamTimeout: defaults, accepts 0 (answer at once), refuses a negative or non-number', () => {
    expect(validate({}).noDownstreamTimeout).to.equal(NO_DOWNSTREAM_TIMEOUT)
    expect(validate({ noDownstreamTimeout: 0 }).noDownstreamTimeout).to.equal(0)
    expect(validate({ noDownstreamTimeout: 250 }).noDownstreamTimeout).to.equal(250)
    expect(() => validate({ noDownstreamTimeout: -1 })).to.throw().with.property('name', 'InvalidOptionError')
    expect(() => validate({ noDownstreamTimeout: Number.NaN })).to.throw().with.property('name', 'InvalidOptionError')
  })
})
