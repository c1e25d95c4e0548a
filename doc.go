// Package tandem calls the methods of a Go object that lives in another process as if it
// were local, and lets that process call back over the same connection.
//
// Both ends of a connection are peers: each exposes the objects registered on its [Server]
// and calls the other's with [Peer.Call] (blocking), [Peer.Go] (asynchronous, with a
// callback) and [Peer.Notify] (one-way). Deadlines and cancellation travel with each call.
//
// Serve an object:
//
//	srv, _ := tandem.NewServer()
//	srv.Register(&Calculator{})          // methods like Add(ctx, a, b int) (int, error)
//	ln, _ := tandem.Listen("tcp://127.0.0.1:9000")
//	go srv.Serve(ln)
//
// Call it from another process:
//
//	peer, _ := tandem.Dial(ctx, "tcp://127.0.0.1:9000")
//	defer peer.Close()
//	var sum int
//	err := peer.Call(ctx, "Calculator.Add", &sum, 2, 3)
//
// A handler finds its caller with [PeerFromContext] and may call back into it. Errors are
// [*Error] values with a [Code]; errors.Is matches the package's sentinels, such as
// [ErrUnknownMethod], even when the error came over the wire. docs/protocol.md specifies the
// wire format.
package tandem
