package contract

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tandem-rpc/tandem"
)

// Client calls the methods of one contract on a peer, checking the contract before the
// first call. Generated clients hold one. A Client is safe for concurrent use: concurrent
// first calls share one check.
//
// A check that finds a mismatch is final: every later call fails with the same
// [*MismatchError]. A check that fails for another reason (the connection, the context) is
// retried on the next call.
type Client struct {
	peer     *tandem.Peer
	contract Contract
	checked  atomic.Bool

	mu       sync.Mutex
	running  chan struct{} // closed when the check in progress ends; nil if none
	mismatch error
}

// NewClient returns a client for c's service on peer.
func NewClient(peer *tandem.Peer, c Contract) *Client {
	return &Client{peer: peer, contract: c}
}

// Peer returns the peer the client calls.
func (c *Client) Peer() *tandem.Peer { return c.peer }

// Call checks the contract if it has not been checked yet, then calls method like
// [tandem.Peer.Call].
func (c *Client) Call(ctx context.Context, method string, result any, args ...any) error {
	if !c.checked.Load() {
		if err := c.check(ctx, method); err != nil {
			return err
		}
	}
	return c.peer.Call(ctx, method, result, args...)
}

// check runs the contract check once, or waits for the one in progress.
func (c *Client) check(ctx context.Context, method string) error {
	c.mu.Lock()
	for c.running != nil {
		running := c.running
		c.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return contextError(ctx, method)
		}
		c.mu.Lock()
	}
	if c.mismatch != nil || c.checked.Load() {
		c.mu.Unlock()
		return c.mismatch
	}
	running := make(chan struct{})
	c.running = running
	c.mu.Unlock()

	err := Check(ctx, c.peer, c.contract)
	if err != nil && !IsMismatch(err) && ctx.Err() != nil {
		err = contextError(ctx, method) // as the call itself would have failed
	}

	c.mu.Lock()
	switch {
	case err == nil:
		c.checked.Store(true)
	case IsMismatch(err):
		c.mismatch = err
	}
	c.running = nil
	close(running)
	c.mu.Unlock()
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
