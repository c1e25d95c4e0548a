package tandem

import "context"

// Caller makes calls on a connection: a [*Peer] on the one it is, a [*Client] on the one it
// keeps up. Generated clients (tandem gen) and [CallT] call through a Caller.
type Caller interface {
	// Call calls method with args and decodes its result into result, as [Peer.Call].
	Call(ctx context.Context, method string, result any, args ...any) error
	// Notify sends a one-way call, as [Peer.Notify].
	Notify(ctx context.Context, method string, args ...any) error
}

var (
	_ Caller = (*Peer)(nil)
	_ Caller = (*Client)(nil)
)

// CallT calls method through c like [Peer.Call] and returns the result as an R, for one-off
// typed calls without generated code:
//
//	sum, err := tandem.CallT[int](ctx, peer, "Calculator.Add", 2, 3)
//
// Generated clients (tandem gen) give the same typing for a whole interface.
func CallT[R any](ctx context.Context, c Caller, method string, args ...any) (R, error) {
	var r R
	err := c.Call(ctx, method, &r, args...)
	return r, err
}
