package conformance

import (
	"context"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Entry is a stored value: a struct with a slice and a map.
type Entry struct {
	Key   string
	Tags  []string
	Attrs map[string]int
}

// Stats counts the calls an implementation has served.
type Stats struct {
	Calls int
	Last  string
}

// Calculator is the contract the suite runs against.
type Calculator interface {
	// Add returns a+b.
	Add(ctx context.Context, a, b int) (int, error)
	// Div returns a/b, or an invalid-argument error for b == 0.
	Div(ctx context.Context, a, b int) (int, error)
	// Sum adds its variadic arguments.
	Sum(ctx context.Context, xs ...int) (int, error)
	// Put stores an entry under its key.
	Put(ctx context.Context, e Entry) error
	// Lookup returns the entry stored under key, or a not-found error with details.
	Lookup(ctx context.Context, key string) (*Entry, error)
	// Stats reports the calls served so far.
	Stats(ctx context.Context) (Stats, error)
	// Wait returns after d, or with ctx's error when ctx ends first.
	Wait(ctx context.Context, d time.Duration) error
	// Fail returns an error with the given code and message.
	Fail(ctx context.Context, code tandem.Code, msg string) error
}

// Message is what a [Hub] delivers to a [Listener].
type Message struct {
	From string
	Text string
}

// Listener is served by a client, for the server to call back.
type Listener interface {
	// Deliver receives a message and reports whether it was accepted.
	Deliver(ctx context.Context, m Message) (bool, error)
}

// Hub is served by a server; Publish calls back the caller's [Listener].
type Hub interface {
	// Publish sends text to the calling peer's Listener and returns what it answered.
	Publish(ctx context.Context, text string) (bool, error)
}
