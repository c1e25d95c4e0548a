// Package gen writes typed tandem clients and server adapters for plain Go interfaces, so a
// caller holds a value of the same interface whether the object is local or remote.
//
// It is what the tandem gen command runs. Given an interface such as
//
//	type Calculator interface {
//		Add(ctx context.Context, a, b int) (int, error)
//		Reset(ctx context.Context) error
//	}
//
// and the directive
//
//	//go:generate go run github.com/tandem-rpc/tandem/cmd/tandem gen -type Calculator
//
// it writes calculator_tandem.go next to the interface, holding:
//
//   - CalculatorContract, a [contract.Contract]: the service name and each method's
//     signature;
//   - NewCalculatorClient(conn) Calculator, whose methods call the Calculator service through
//     conn, a [tandem.Peer] or a reconnecting [tandem.Client]; the first call on each
//     connection checks the contract against the server's introspection and fails with a
//     [contract.MismatchError] listing the methods that differ;
//   - RegisterCalculator(srv, impl, opts...), which exposes any implementation through
//     [tandem.Server.RegisterMethods]: typed decoding and direct method calls, no
//     reflection.
//
// A method qualifies when its first parameter is a context.Context, its last result is an
// error, it has at most one other result, and no parameter or result is (or holds directly)
// a channel, a function or an unsafe.Pointer. The last parameter may be variadic. Methods of
// embedded interfaces are included; types from other packages are imported. The generator
// explains, per method, what is wrong with one that does not qualify.
//
// The output is deterministic and gofmt'ed, so checked-in files can be compared with fresh
// ones: see [Generate] and [Stale].
package gen
