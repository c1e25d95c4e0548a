// Package contract is the runtime support of the code that tandem gen writes: the contract of
// a service interface (its name and its methods' signatures), the check of that contract
// against the other side's introspection, the [Client] that generated clients call
// through, and the [Args] that generated server adapters decode arguments with.
//
// Generated code uses it; programs rarely need more than [Check], to verify a contract
// eagerly when they connect instead of on the first call:
//
//	peer, err := tandem.Dial(ctx, addr)
//	...
//	if err := contract.Check(ctx, peer, calc.CalculatorContract); err != nil {
//		var m *contract.MismatchError
//		if errors.As(err, &m) { // client and server were built from different interfaces
//			log.Fatal(m)
//		}
//	}
//	c := calc.NewCalculatorClient(peer)
//
// Generated clients also take a reconnecting [tandem.Client] in place of the peer; they then
// check the contract on each new connection before its first call, since a reconnection
// may reach a server built from another version of the interface.
//
// A contract matches when the server's service has every method of the contract with the
// same signature. Extra methods on the server are allowed, so adding a method to an
// interface does not break clients built before it.
package contract
