package tandem

import "context"

// CallT calls method on p like [Peer.Call] and returns the result as an R, for one-off typed
// calls without generated code:
//
//	sum, err := tandem.CallT[int](ctx, peer, "Calculator.Add", 2, 3)
//
// Generated clients (tandem gen) give the same typing for a whole interface.
func CallT[R any](ctx context.Context, p *Peer, method string, args ...any) (R, error) {
	var r R
	err := p.Call(ctx, method, &r, args...)
	return r, err
}
