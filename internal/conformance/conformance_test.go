package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/internal/conformance"
)

// outcome is what one step of the suite observed: a value and an error, reduced to what a
// caller can see of it. Remote errors must match local ones in code, message and details.
type outcome struct {
	Value   any
	Code    tandem.Code
	Msg     string
	Details map[string]string
}

func observe(v any, err error) outcome {
	o := outcome{Value: v, Code: tandem.CodeOf(err)}
	var te *tandem.Error
	switch {
	case errors.As(err, &te):
		o.Msg, o.Details = te.Message, te.Details
	case err != nil:
		o.Msg = err.Error()
	}
	return o
}

// deadlineOutcome reduces a call that ran out of time to what must be the same locally and
// remotely: the code, errors.Is(err, context.DeadlineExceeded), and returning on time. The
// message differs (a remote one names the method), so it is left out.
func deadlineOutcome(err error, elapsed, budget time.Duration) outcome {
	return outcome{
		Value: fmt.Sprintf("is DeadlineExceeded: %t, on time: %t", errors.Is(err, context.DeadlineExceeded), elapsed < budget+2*time.Second),
		Code:  tandem.CodeOf(err),
	}
}

// steps is the suite: each step calls c and reports what it saw. Steps run in order, on
// one implementation, so state (Put, Stats) carries from one to the next.
var steps = []struct {
	name string
	run  func(c conformance.Calculator) outcome
}{
	{"Add", func(c conformance.Calculator) outcome { return observe(c.Add(context.Background(), 2, 3)) }},
	{"AddNegative", func(c conformance.Calculator) outcome { return observe(c.Add(context.Background(), -7, 3)) }},
	{"Div", func(c conformance.Calculator) outcome { return observe(c.Div(context.Background(), 9, 2)) }},
	{"DivByZero", func(c conformance.Calculator) outcome { return observe(c.Div(context.Background(), 1, 0)) }},
	{"SumNone", func(c conformance.Calculator) outcome { return observe(c.Sum(context.Background())) }},
	{"SumMany", func(c conformance.Calculator) outcome { return observe(c.Sum(context.Background(), 1, 2, 3, 4)) }},
	{"LookupMissing", func(c conformance.Calculator) outcome { return observe(c.Lookup(context.Background(), "x")) }},
	{"PutEmptyKey", func(c conformance.Calculator) outcome {
		return observe(nil, c.Put(context.Background(), conformance.Entry{}))
	}},
	{"Put", func(c conformance.Calculator) outcome {
		return observe(nil, c.Put(context.Background(), conformance.Entry{Key: "x", Tags: []string{"a", "b"}, Attrs: map[string]int{"n": 1}}))
	}},
	{"Lookup", func(c conformance.Calculator) outcome { return observe(c.Lookup(context.Background(), "x")) }},
	{"FailPermission", func(c conformance.Calculator) outcome {
		return observe(nil, c.Fail(context.Background(), tandem.CodePermissionDenied, "not yours"))
	}},
	{"FailUnimplemented", func(c conformance.Calculator) outcome {
		return observe(nil, c.Fail(context.Background(), tandem.CodeUnimplemented, ""))
	}},
	{"WaitShort", func(c conformance.Calculator) outcome {
		return observe(nil, c.Wait(context.Background(), time.Millisecond))
	}},
	{"WaitPastDeadline", func(c conformance.Calculator) outcome {
		const budget = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		start := time.Now()
		err := c.Wait(ctx, time.Minute)
		return deadlineOutcome(err, time.Since(start), budget)
	}},
	{"CallAfterDeadline", func(c conformance.Calculator) outcome {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		start := time.Now()
		_, err := c.Add(ctx, 1, 1)
		return deadlineOutcome(err, time.Since(start), 0)
	}},
	{"CallCancelled", func(c conformance.Calculator) outcome {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Sum(ctx, 1)
		return outcome{Value: errors.Is(err, context.Canceled), Code: tandem.CodeOf(err)}
	}},
	{"Stats", func(c conformance.Calculator) outcome {
		return observe(c.Stats(context.Background()))
	}},
}

// runSuite runs every step on c and returns the outcomes by step.
func runSuite(t *testing.T, c conformance.Calculator) []outcome {
	t.Helper()
	out := make([]outcome, len(steps))
	for i, s := range steps {
		out[i] = s.run(c)
	}
	return out
}

func registerGenerated(srv *tandem.Server) error {
	return conformance.RegisterCalculator(srv, conformance.NewCalc())
}

func registerReflective(srv *tandem.Server) error {
	return srv.RegisterName("Calculator", conformance.NewCalc())
}

// TestTransparency runs the suite locally and through the generated client on every
// transport, with the server registered by generated code and by reflection, and requires
// the same outcome at every step.
func TestTransparency(t *testing.T) {
	want := runSuite(t, conformance.NewCalc())
	for _, reg := range []struct {
		name     string
		register func(*tandem.Server) error
	}{{"generated", registerGenerated}, {"reflective", registerReflective}} {
		for _, tr := range transports {
			t.Run(reg.name+"/"+tr.name, func(t *testing.T) {
				c := tr.connect(t, reg.register, nil)
				got := runSuite(t, conformance.NewCalculatorClient(c.client))
				for i, s := range steps {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Errorf("%s:\nremote %#v\nlocal  %#v", s.name, got[i], want[i])
					}
				}
			})
		}
	}
}

// TestRemoteErrorsAreRemote checks the one thing that may tell a remote error from a local
// one, on purpose: tandem.IsRemote.
func TestRemoteErrorsAreRemote(t *testing.T) {
	c := connectPipe(t, registerGenerated, nil)
	_, err := conformance.NewCalculatorClient(c.client).Div(context.Background(), 1, 0)
	if !tandem.IsRemote(err) {
		t.Errorf("IsRemote(%v) = false, want true", err)
	}
	if _, err := conformance.NewCalc().Div(context.Background(), 1, 0); tandem.IsRemote(err) {
		t.Errorf("IsRemote(%v) = true for a local error", err)
	}
}

// TestCallback runs both directions: the client serves a Listener, the server's Hub calls it
// back through the generated client on the peer from its context, during the call and
// after it, on every transport.
func TestCallback(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			inbox := &conformance.Inbox{Capacity: 2}
			c := tr.connect(t,
				func(s *tandem.Server) error { return conformance.RegisterHub(s, conformance.Relay{}) },
				func(s *tandem.Server) error { return conformance.RegisterListener(s, inbox) })
			hub := conformance.NewHubClient(c.client)
			ctx := context.Background()
			for i, want := range []bool{true, true, false} {
				ok, err := hub.Publish(ctx, fmt.Sprint("m", i))
				if err != nil || ok != want {
					t.Fatalf("Publish %d = %t, %v; want %t, nil", i, ok, err, want)
				}
			}
			want := []conformance.Message{{From: "hub", Text: "m0"}, {From: "hub", Text: "m1"}}
			if got := inbox.Messages(); !reflect.DeepEqual(got, want) {
				t.Errorf("inbox = %v, want %v", got, want)
			}
			// The server side calls the client's Listener on its own, after the calls.
			if c.server == nil {
				t.Fatal("no server-side peer")
			}
			ok, err := conformance.NewListenerClient(c.server).Deliver(ctx, conformance.Message{Text: "late"})
			if err != nil || ok {
				t.Errorf("Deliver = %t, %v; want false (inbox full), nil", ok, err)
			}
		})
	}
}
