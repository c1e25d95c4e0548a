// Package calc is the contract of the calculator example: the [Calculator] interface both
// programs share, the implementation the server exposes ([Service]) and the stand-in the
// client calls ([Client]), whose methods run on the server's object.
package calc

import (
	"context"

	"github.com/tandem-rpc/tandem"
)

// Name is the service name the server registers the calculator under.
const Name = "Calculator"

// Calculator is the remote interface. Each method takes a context, which carries the
// caller's deadline to the server, and returns an error, which may come from the network.
type Calculator interface {
	Add(ctx context.Context, a, b int) (int, error)
	Sub(ctx context.Context, a, b int) (int, error)
	Mul(ctx context.Context, a, b int) (int, error)
	// Div fails with [tandem.CodeInvalidArgument] when b is zero.
	Div(ctx context.Context, a, b int) (int, error)
}

// Service implements [Calculator]. It holds no state, so it is safe for concurrent use.
type Service struct{}

var _ Calculator = Service{}

// Add returns a + b.
func (Service) Add(_ context.Context, a, b int) (int, error) { return a + b, nil }

// Sub returns a - b.
func (Service) Sub(_ context.Context, a, b int) (int, error) { return a - b, nil }

// Mul returns a * b.
func (Service) Mul(_ context.Context, a, b int) (int, error) { return a * b, nil }

// Div returns a / b, rounded toward zero.
func (Service) Div(_ context.Context, a, b int) (int, error) {
	if b == 0 {
		return 0, tandem.NewError(tandem.CodeInvalidArgument, "division by zero")
	}
	return a / b, nil
}

// Client is a [Calculator] whose calls run on the server's object over peer. It is safe for
// concurrent use, as its peer is.
type Client struct{ peer *tandem.Peer }

var _ Calculator = Client{}

// NewClient returns the calculator served at the other end of peer.
func NewClient(peer *tandem.Peer) Client { return Client{peer: peer} }

func (c Client) call(ctx context.Context, method string, a, b int) (int, error) {
	var r int
	err := c.peer.Call(ctx, Name+"."+method, &r, a, b)
	return r, err
}

// Add returns a + b, computed by the server.
func (c Client) Add(ctx context.Context, a, b int) (int, error) { return c.call(ctx, "Add", a, b) }

// Sub returns a - b, computed by the server.
func (c Client) Sub(ctx context.Context, a, b int) (int, error) { return c.call(ctx, "Sub", a, b) }

// Mul returns a * b, computed by the server.
func (c Client) Mul(ctx context.Context, a, b int) (int, error) { return c.call(ctx, "Mul", a, b) }

// Div returns a / b, computed by the server.
func (c Client) Div(ctx context.Context, a, b int) (int, error) { return c.call(ctx, "Div", a, b) }
