package conformance

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Calc is the local implementation of [Calculator]. Every method honours its context first,
// as a remote call would, and returns [*tandem.Error] values, which cross the wire intact.
// It is safe for concurrent use.
type Calc struct {
	mu      sync.Mutex
	stats   Stats
	entries map[string]Entry
}

var _ Calculator = (*Calc)(nil)

// NewCalc returns an empty calculator.
func NewCalc() *Calc { return &Calc{entries: map[string]Entry{}} }

// begin counts a call and returns ctx's error, if it has ended.
func (c *Calc) begin(ctx context.Context, method string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.stats.Calls++
	c.stats.Last = method
	c.mu.Unlock()
	return nil
}

// Add returns a+b.
func (c *Calc) Add(ctx context.Context, a, b int) (int, error) {
	if err := c.begin(ctx, "Add"); err != nil {
		return 0, err
	}
	return a + b, nil
}

// Div returns a/b, or an invalid-argument error for b == 0.
func (c *Calc) Div(ctx context.Context, a, b int) (int, error) {
	if err := c.begin(ctx, "Div"); err != nil {
		return 0, err
	}
	if b == 0 {
		return 0, tandem.NewError(tandem.CodeInvalidArgument, "division by zero").WithDetail("dividend", "a")
	}
	return a / b, nil
}

// Sum adds xs.
func (c *Calc) Sum(ctx context.Context, xs ...int) (int, error) {
	if err := c.begin(ctx, "Sum"); err != nil {
		return 0, err
	}
	n := 0
	for _, x := range xs {
		n += x
	}
	return n, nil
}

// Put stores e under e.Key; the key must not be empty.
func (c *Calc) Put(ctx context.Context, e Entry) error {
	if err := c.begin(ctx, "Put"); err != nil {
		return err
	}
	if e.Key == "" {
		return tandem.NewError(tandem.CodeInvalidArgument, "empty key")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.Tags = slices.Clone(e.Tags)
	c.entries[e.Key] = e
	return nil
}

// Lookup returns the entry stored under key.
func (c *Calc) Lookup(ctx context.Context, key string) (*Entry, error) {
	if err := c.begin(ctx, "Lookup"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, tandem.Errorf(tandem.CodeNotFound, "no entry %q", key).WithDetail("key", key)
	}
	return &e, nil
}

// Stats reports the calls served before this one.
func (c *Calc) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats, nil
}

// Wait returns after d, or ctx's error if ctx ends first.
func (c *Calc) Wait(ctx context.Context, d time.Duration) error {
	if err := c.begin(ctx, "Wait"); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fail returns tandem.NewError(code, msg).
func (c *Calc) Fail(ctx context.Context, code tandem.Code, msg string) error {
	if err := c.begin(ctx, "Fail"); err != nil {
		return err
	}
	return tandem.NewError(code, msg)
}

// Inbox is a [Listener] that keeps what it is delivered. It accepts messages until it has
// Capacity of them. It is safe for concurrent use.
type Inbox struct {
	// Capacity is how many messages it accepts.
	Capacity int

	mu   sync.Mutex
	msgs []Message
}

var _ Listener = (*Inbox)(nil)

// Deliver keeps m if there is room.
func (in *Inbox) Deliver(ctx context.Context, m Message) (bool, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) >= in.Capacity {
		return false, nil
	}
	in.msgs = append(in.msgs, m)
	return true, nil
}

// Messages returns the messages delivered so far.
func (in *Inbox) Messages() []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs)
}

// Relay is a [Hub] that delivers each message to the Listener of the peer that published
// it, through the generated client: the server calls the client's typed interface.
type Relay struct{}

var _ Hub = Relay{}

// Publish delivers text back to the caller's Listener.
func (Relay) Publish(ctx context.Context, text string) (bool, error) {
	peer := tandem.PeerFromContext(ctx)
	if peer == nil {
		return false, tandem.NewError(tandem.CodeFailedPrecondition, "Publish must be called remotely")
	}
	return NewListenerClient(peer).Deliver(ctx, Message{From: "hub", Text: text})
}
