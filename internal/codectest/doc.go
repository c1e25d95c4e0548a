// Package codectest holds the tests every tandem codec must pass, written once and run by
// each codec package against its own [Codec].
//
// A codec package calls the helpers from its own tests:
//
//	func TestContract(t *testing.T) {
//		codectest.Contract(t, msgpack.New(),
//			codectest.ElementIndex(func(e *msgpack.ElementError) int { return e.Index }))
//	}
//
//	func BenchmarkCodec(b *testing.B) { codectest.Benchmarks(b, msgpack.New(), codectest.Sample()) }
//
// Tests of what a single codec does differently (decoding into *any, depth limits, hostile
// inputs, allocation guards) stay in that codec's package.
package codectest
