package tandem

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults for a [Client]'s reconnection.
const (
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
	DefaultMaxRetries  = 3
)

// ClientOption configures a [Client].
type ClientOption interface{ applyClient(*clientConfig) error }

type clientOptionFunc func(*clientConfig) error

func (f clientOptionFunc) applyClient(c *clientConfig) error { return f(c) }

type clientConfig struct {
	backoffBase, backoffMax time.Duration
	waitForReady            bool
	maxRetries              int
}

// WithBackoff sets the delays between reconnection attempts: the n-th consecutive failure
// waits a random time up to min(base·2ⁿ, max) ("full jitter"), so clients of a restarted
// server do not return in step. Default: [DefaultBackoffBase] (100ms), [DefaultBackoffMax]
// (30s).
func WithBackoff(base, max time.Duration) ClientOption {
	return clientOptionFunc(func(c *clientConfig) error {
		if base <= 0 || max < base {
			return errors.New("tandem: WithBackoff: want 0 < base <= max")
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	})
}

// WithWaitForReady makes calls made while disconnected wait for the next connection, up to
// their deadline. Default: they fail at once with [ErrConnectionLost].
func WithWaitForReady() ClientOption {
	return clientOptionFunc(func(c *clientConfig) error { c.waitForReady = true; return nil })
}

// WithMaxRetries bounds how many times one call is retried on a new connection. Default:
// [DefaultMaxRetries] (3); 0 disables retries.
func WithMaxRetries(n int) ClientOption {
	return clientOptionFunc(func(c *clientConfig) error {
		if n < 0 {
			return errors.New("tandem: WithMaxRetries: negative")
		}
		c.maxRetries = n
		return nil
	})
}

type idempotentKey struct{}

// MarkIdempotent returns a context whose calls through a [Client] may be retried on a new
// connection even if the lost one may have started them: use it for calls that are safe to
// run twice. Calls the other side provably never started are retried regardless.
func MarkIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// Client keeps a connection to one address: when the connection is lost, or the other side
// announces it is going away, it dials again with exponential backoff and jitter. The
// objects registered on its [Server] are served on every new connection, so the other side
// can call them again after a reconnect. Calls are retried on a new connection only when
// that is safe: the other side provably never started them (it refused them while shutting
// down, or its going-away frame named a lower last accepted id), or the caller marked them
// with [MarkIdempotent].
//
// A Client is safe for concurrent use.
type Client struct {
	srv  *Server
	addr string
	cfg  clientConfig

	mu    sync.Mutex
	peer  *Peer         // the current connection, or nil
	ready chan struct{} // closed when peer is set; replaced when it is lost
	err   error         // the last dial error, for calls made while disconnected

	quit     chan struct{}
	loopDone chan struct{}
	draining sync.WaitGroup // old connections finishing their calls
}

// NewClient returns a [Client] for addr whose connections expose s's objects. It returns
// at once and connects in the background; use [Client.Peer] with [WithWaitForReady] (or a
// first Call) to wait for the connection.
func (s *Server) NewClient(addr string, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax, maxRetries: DefaultMaxRetries}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyClient(&cfg); err != nil {
			return nil, err
		}
	}
	if _, _, err := splitAddr(addr); err != nil {
		return nil, err
	}
	c := &Client{srv: s, addr: addr, cfg: cfg, ready: make(chan struct{}), quit: make(chan struct{}), loopDone: make(chan struct{})}
	go c.loop()
	return c, nil
}

// loop dials, waits for the connection to end or go away, and dials again.
func (c *Client) loop() {
	defer close(c.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	failures := 0
	for {
		p, err := c.srv.Dial(ctx, c.addr)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.srv.cfg.logger.Debug("tandem: reconnect failed", "addr", c.addr, "err", err)
			ceiling := min(c.cfg.backoffBase<<min(failures, 30), c.cfg.backoffMax)
			failures++
			t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
			select {
			case <-t.C:
				continue
			case <-c.quit:
				t.Stop()
				return
			}
		}
		failures = 0
		c.mu.Lock()
		c.peer, c.err = p, nil
		close(c.ready)
		c.mu.Unlock()

		select {
		case <-p.Done():
		case <-p.GoingAway():
		case <-c.quit:
			p.Close()
			return
		}
		c.mu.Lock()
		c.peer = nil
		c.ready = make(chan struct{})
		c.mu.Unlock()
		// A connection going away still finishes its calls, and the other side closes it
		// when they are done; Close cuts it short.
		c.draining.Add(1)
		go func() {
			defer c.draining.Done()
			select {
			case <-p.Done():
			case <-c.quit:
				p.Close()
			}
		}()
	}
}

// Peer returns the current connection. While disconnected it fails with
// [ErrConnectionLost], or with [WithWaitForReady] waits for the next connection until ctx
// ends.
func (c *Client) Peer(ctx context.Context) (*Peer, error) {
	return c.current(ctx, c.cfg.waitForReady)
}

func (c *Client) current(ctx context.Context, wait bool) (*Peer, error) {
	for {
		c.mu.Lock()
		p, ready, lastErr := c.peer, c.ready, c.err
		c.mu.Unlock()
		select {
		case <-c.quit:
			return nil, newErr(ErrClosed, nil, "client for %s closed", c.addr)
		default:
		}
		if p != nil {
			select {
			case <-p.GoingAway():
			case <-p.Done():
			default:
				return p, nil
			}
		}
		if !wait {
			msg := "not connected to " + c.addr + " (reconnecting)"
			if lastErr != nil {
				msg += ": " + lastErr.Error()
			}
			return nil, newErr(ErrConnectionLost, lastErr, "%s", msg)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, contextError(ctx, "waiting for a connection to "+c.addr)
		case <-c.quit:
		}
	}
}

// retryable says whether a failed call may run again on a new connection.
func retryable(ctx context.Context, err error) bool {
	if errors.Is(err, ErrShuttingDown) {
		return true
	}
	idem, _ := ctx.Value(idempotentKey{}).(bool)
	return idem && errors.Is(err, ErrConnectionLost)
}

// Call calls method like [Peer.Call] on the current connection, retrying on a new one when
// that is safe (see [Client]).
func (c *Client) Call(ctx context.Context, method string, result any, args ...any) error {
	return c.Do(ctx, func(p *Peer) error { return p.Call(ctx, method, result, args...) })
}

// Do runs f with the current connection and returns f's error. When that error makes a
// retry safe, as it does for a [Client]'s calls, Do waits for the next connection (within
// ctx) and runs f again on it, up to the retry limit ([WithMaxRetries]). So f may run more
// than once, each time with one connection for all it does; it should call only through
// the [*Peer] it is given. While disconnected, Do fails with [ErrConnectionLost] before
// running f, or with [WithWaitForReady] waits for a connection.
func (c *Client) Do(ctx context.Context, f func(*Peer) error) error {
	wait := c.cfg.waitForReady
	for attempt := 0; ; attempt++ {
		p, err := c.current(ctx, wait)
		if err != nil {
			return err
		}
		err = f(p)
		if err == nil || attempt >= c.cfg.maxRetries || !retryable(ctx, err) || ctx.Err() != nil {
			return err
		}
		wait = true // a retry waits for the reconnection, within the call's deadline
		select {
		case <-p.Done():
		case <-p.GoingAway():
		case <-ctx.Done():
			return err
		}
	}
}

// Notify sends a one-way call like [Peer.Notify] on the current connection.
func (c *Client) Notify(ctx context.Context, method string, args ...any) error {
	p, err := c.current(ctx, c.cfg.waitForReady)
	if err != nil {
		return err
	}
	return p.Notify(ctx, method, args...)
}

// Close stops reconnecting and closes the current connection and any still draining.
func (c *Client) Close() error {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.loopDone
	c.draining.Wait()
	return nil
}
