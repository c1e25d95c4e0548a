// Command client joins the chat example's room, sends each line of its standard input and
// prints what the others say. It exposes its own [chat.Member], which the server calls.
//
//	go run ./examples/chat/client -addr tcp://127.0.0.1:9001 -name alice
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/examples/chat/chat"
)

func main() {
	addr := flag.String("addr", "tcp://127.0.0.1:9001", "address of the chat server")
	name := flag.String("name", "", "your name in the room (required)")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "client: -name is required")
		os.Exit(2)
	}
	if err := run(*addr, *name, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// printer is this client's [chat.Member]: the server calls it to deliver messages.
type printer struct{}

// Receive prints one message.
func (printer) Receive(_ context.Context, m chat.Message) error {
	if m.From == "" {
		fmt.Println("*", m.Text)
	} else {
		fmt.Printf("%s: %s\n", m.From, m.Text)
	}
	return nil
}

func run(addr, name string, in io.Reader) error {
	// A client that exposes an object is a tandem.Server that dials instead of listening.
	// Serialized: messages are printed in the order the room sent them.
	self, err := tandem.NewServer()
	if err != nil {
		return err
	}
	defer self.Close()
	if err := chat.RegisterMember(self, printer{}, tandem.WithSerialized(0)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	peer, err := self.Dial(ctx, addr)
	cancel()
	if err != nil {
		return err
	}

	room := chat.NewRoomClient(peer)
	names, err := room.Join(context.Background(), name)
	if err != nil {
		return err
	}
	fmt.Printf("joined as %s; in the room: %s\n", name, strings.Join(names, ", "))

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil // end of input: leave
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := room.Send(context.Background(), line); err != nil {
				return err
			}
		case <-peer.Done():
			if errors.Is(peer.Err(), tandem.ErrClosed) {
				return nil
			}
			return fmt.Errorf("disconnected: %w", peer.Err())
		}
	}
}
