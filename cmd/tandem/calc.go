package main

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Calc is the object 'tandem serve' exposes and 'tandem demo' calls. It is safe for
// concurrent use, as a service in the default Concurrent mode must be.
type Calc struct {
	start  time.Time
	calls  atomic.Int64
	errors atomic.Int64
	notes  atomic.Int64

	// observe, when set (by the demo), hears how Sleep ended and what Note received.
	observe func(event string)
}

// CalcStats is what [Calc.Stats] returns.
type CalcStats struct {
	Calls  int64  `json:"calls" msgpack:"calls"`
	Errors int64  `json:"errors" msgpack:"errors"`
	Notes  int64  `json:"notes" msgpack:"notes"`
	Uptime string `json:"uptime" msgpack:"uptime"`
}

func newCalc() *Calc { return &Calc{start: time.Now()} }

// Add returns a + b.
func (c *Calc) Add(a, b int) int {
	c.calls.Add(1)
	return a + b
}

// Div returns a / b, or an invalid_argument error when b is zero.
func (c *Calc) Div(a, b float64) (float64, error) {
	c.calls.Add(1)
	if b == 0 {
		c.errors.Add(1)
		return 0, tandem.NewError(tandem.CodeInvalidArgument, "division by zero").WithDetail("dividend", formatFloat(a))
	}
	return a / b, nil
}

// Sleep waits ms milliseconds, or until the caller's deadline passes or it cancels.
func (c *Calc) Sleep(ctx context.Context, ms int) (string, error) {
	c.calls.Add(1)
	start := time.Now()
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return "slept " + strconv.Itoa(ms) + "ms", nil
	case <-ctx.Done():
		c.errors.Add(1)
		if c.observe != nil {
			c.observe("ctx.Done after " + fmtDuration(time.Since(start)))
		}
		return "", ctx.Err()
	}
}

// Echo returns s.
func (c *Calc) Echo(s string) string {
	c.calls.Add(1)
	return s
}

// Note records a one-way notification; its text is only counted.
func (c *Calc) Note(text string) {
	c.notes.Add(1)
	if c.observe != nil {
		c.observe("note " + text)
	}
}

// Whoami returns the name the server's authenticator gave the caller: the common name of
// its client certificate under mutual TLS, "token" for a holder of the shared token, or ""
// when the server authenticates no one.
func (c *Calc) Whoami(ctx context.Context) string {
	c.calls.Add(1)
	id, _ := tandem.IdentityFromContext(ctx)
	return id.Name
}

// Stats reports the calls served so far.
func (c *Calc) Stats() CalcStats {
	c.calls.Add(1)
	return CalcStats{
		Calls:  c.calls.Load(),
		Errors: c.errors.Load(),
		Notes:  c.notes.Load(),
		Uptime: time.Since(c.start).Round(time.Millisecond).String(),
	}
}
