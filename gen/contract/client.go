package contract

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tandem-rpc/tandem"
)

// Client calls the methods of one contract through a [tandem.Caller], checking the
// contract before the first call on each connection. Generated clients hold one.
//
// Through a [*tandem.Peer] there is one connection and one check. Through a
// [*tandem.Client] each new connection is checked before its first call, since it may
// reach a server built from another version of the interface; a call the Client retries
// on a new connection is checked there too. Through any other Caller the check is made
// once, through it.
//
// A check that finds a mismatch is final for its connection: every later call on it fails
// with the same [*MismatchError]. A check that fails for another reason (the connection,
// the context) is made again on the next call.
//
// A Client is safe for concurrent use: concurrent first calls share one check.
type Client struct {
	caller   tandem.Caller
	peer     *tandem.Peer   // caller, when it is a Peer
	conns    *tandem.Client // caller, when it is a Client
	contract Contract

	once   checker                 // the check through peer or caller
	latest atomic.Pointer[checker] // through conns: the check of its latest connection
}

// checker is the check of one connection.
type checker struct {
	peer    *tandem.Peer // the connection, through conns
	checked atomic.Bool

	mu       sync.Mutex
	running  chan struct{} // closed when the check in progress ends; nil if none
	mismatch error
}

// NewClient returns a client for c's service through caller.
func NewClient(caller tandem.Caller, c Contract) *Client {
	cl := &Client{caller: caller, contract: c}
	switch x := caller.(type) {
	case *tandem.Peer:
		cl.peer = x
	case *tandem.Client:
		cl.conns = x
	}
	return cl
}

// Caller returns what the client calls through.
func (c *Client) Caller() tandem.Caller { return c.caller }

// Call checks the contract on the connection if it has not been checked there yet, then
// calls method like [tandem.Peer.Call].
func (c *Client) Call(ctx context.Context, method string, result any, args ...any) error {
	switch {
	case c.peer != nil:
		if !c.once.checked.Load() {
			if err := c.once.check(ctx, c.peer, c.contract, method); err != nil {
				return err
			}
		}
		return c.peer.Call(ctx, method, result, args...)
	case c.conns != nil:
		return c.conns.Do(ctx, func(p *tandem.Peer) error {
			if k := c.on(p); !k.checked.Load() {
				if err := k.check(ctx, p, c.contract, method); err != nil {
					return err
				}
			}
			return p.Call(ctx, method, result, args...)
		})
	default:
		if !c.once.checked.Load() {
			if err := c.once.check(ctx, c.caller, c.contract, method); err != nil {
				return err
			}
		}
		return c.caller.Call(ctx, method, result, args...)
	}
}

// on returns the check of connection p, a new one if p is not the latest connection seen.
// Only the latest connection's is kept: a Client makes its calls on its current connection,
// so an older one rarely comes back, and then is checked again.
func (c *Client) on(p *tandem.Peer) *checker {
	for {
		k := c.latest.Load()
		if k != nil && k.peer == p {
			return k
		}
		next := &checker{peer: p}
		if c.latest.CompareAndSwap(k, next) {
			return next
		}
	}
}

// check runs the check through caller once, or waits for the one in progress.
func (k *checker) check(ctx context.Context, caller tandem.Caller, ct Contract, method string) error {
	k.mu.Lock()
	for k.running != nil {
		running := k.running
		k.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return contextError(ctx, method)
		}
		k.mu.Lock()
	}
	if k.mismatch != nil || k.checked.Load() {
		k.mu.Unlock()
		return k.mismatch
	}
	running := make(chan struct{})
	k.running = running
	k.mu.Unlock()

	err := Check(ctx, caller, ct)
	if err != nil && !IsMismatch(err) && ctx.Err() != nil {
		err = contextError(ctx, method) // as the call itself would have failed
	}

	k.mu.Lock()
	switch {
	case err == nil:
		k.checked.Store(true)
	case IsMismatch(err):
		k.mismatch = err
	}
	k.running = nil
	close(running)
	k.mu.Unlock()
	return err
}

// contextError reports ctx's end for a caller that waited on another's check, the way
// [tandem.Peer.Call] would.
func contextError(ctx context.Context, method string) error {
	code := tandem.CodeCanceled
	if ctx.Err() == context.DeadlineExceeded {
		code = tandem.CodeDeadlineExceeded
	}
	return tandem.NewError(code, method+": "+ctx.Err().Error())
}
