package tandem_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/tandem-rpc/tandem"
)

// Greeter is a plain Go type; its exported methods become callable remotely.
type Greeter struct{}

// Hello greets name.
func (Greeter) Hello(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", tandem.NewError(tandem.CodeInvalidArgument, "name is empty")
	}
	return "hello, " + name, nil
}

// connectPipe links a client to srv over an in-memory pipe, for the examples.
func connectPipe(srv *tandem.Server) *tandem.Peer {
	a, b := net.Pipe()
	go srv.ServeConn(context.Background(), a)
	client, _ := tandem.NewServer()
	p, err := client.DialConn(context.Background(), b)
	if err != nil {
		panic(err)
	}
	return p
}

func Example() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	if err := srv.Register(Greeter{}); err != nil {
		panic(err)
	}
	ln, _ := tandem.Listen("tcp://127.0.0.1:0")
	go srv.Serve(ln)

	ctx := context.Background()
	peer, err := tandem.Dial(ctx, "tcp://"+ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer peer.Close()

	var greeting string
	err = peer.Call(ctx, "Greeter.Hello", &greeting, "world")
	fmt.Println(greeting, err)

	err = peer.Call(ctx, "Greeter.Hello", &greeting, "")
	fmt.Println(tandem.CodeOf(err), tandem.IsRemote(err))

	err = peer.Call(ctx, "Greeter.Goodbye", nil)
	fmt.Println(errors.Is(err, tandem.ErrUnknownMethod))
	// Output:
	// hello, world <nil>
	// invalid_argument true
	// true
}

func ExamplePeer_Go() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	srv.Register(Greeter{})
	peer := connectPipe(srv)
	defer peer.Close()

	var greeting string
	call := peer.Go(context.Background(), "Greeter.Hello", &greeting, "async")
	done := make(chan struct{})
	call.Then(func(err error) {
		fmt.Println(greeting, err)
		close(done)
	})
	<-done
	// Output: hello, async <nil>
}

func ExampleCallT() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	srv.Register(Greeter{})
	peer := connectPipe(srv)
	defer peer.Close()

	greeting, err := tandem.CallT[string](context.Background(), peer, "Greeter.Hello", "typed")
	fmt.Println(greeting, err)
	// Output: hello, typed <nil>
}

// Echoer calls back into whoever calls it.
type Echoer struct{}

// Relay asks the caller's Greeter to greet name, over the same connection.
func (Echoer) Relay(ctx context.Context, name string) (string, error) {
	return tandem.CallT[string](ctx, tandem.PeerFromContext(ctx), "Greeter.Hello", name)
}

func ExamplePeerFromContext() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	srv.Register(Echoer{})

	// The dialing side exposes its own Greeter on the connection.
	client, _ := tandem.NewServer()
	defer client.Close()
	client.Register(Greeter{})
	a, b := net.Pipe()
	go srv.ServeConn(context.Background(), a)
	peer, _ := client.DialConn(context.Background(), b)

	out, err := tandem.CallT[string](context.Background(), peer, "Echoer.Relay", "back")
	fmt.Println(out, err)
	// Output: hello, back <nil>
}

func ExamplePump() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	pump, _ := tandem.NewPump(16)
	srv.Register(Greeter{}, tandem.WithPump(pump))
	peer := connectPipe(srv)
	defer peer.Close()

	var greeting string
	call := peer.Go(context.Background(), "Greeter.Hello", &greeting, "loop")
	// The program's own loop runs queued calls when it chooses.
	<-pump.Ready()
	pump.Poll(0)
	fmt.Println(greeting, call.Wait())
	// Output: hello, loop <nil>
}

func ExampleClient() {
	srv, _ := tandem.NewServer()
	defer srv.Close()
	srv.Register(Greeter{})
	ln, _ := tandem.Listen("tcp://127.0.0.1:0")
	go srv.Serve(ln)

	// A Client keeps a connection to the address, redialling when it is lost; it serves
	// local's objects (none here) on every connection.
	local, _ := tandem.NewServer()
	defer local.Close()
	conns, _ := local.NewClient("tcp://"+ln.Addr().String(), tandem.WithWaitForReady())
	defer conns.Close()
	ctx := context.Background()

	greeting, err := tandem.CallT[string](ctx, conns, "Greeter.Hello", "again")
	fmt.Println(greeting, err)

	// Do runs calls that belong together on one connection, under the Client's retry rule.
	err = conns.Do(ctx, func(p *tandem.Peer) error {
		var a, b string
		if err := p.Call(ctx, "Greeter.Hello", &a, "one"); err != nil {
			return err
		}
		if err := p.Call(ctx, "Greeter.Hello", &b, "two"); err != nil {
			return err
		}
		fmt.Println(a, "/", b)
		return nil
	})
	fmt.Println(err)
	// Output:
	// hello, again <nil>
	// hello, one / hello, two
	// <nil>
}
