// Package chat is the contract of the chat example. The server exposes a [Room]; every
// client exposes a [Member] on the same connection, which the room calls to deliver
// messages: both ends are peers.
package chat

import (
	"context"
	"slices"
	"sync"

	"github.com/tandem-rpc/tandem"
)

// Service names the two sides register their objects under.
const (
	RoomName   = "Chat"
	MemberName = "Client"
)

// Message is one chat line. From is empty for the room's own announcements.
type Message struct {
	From string `json:"from" msgpack:"from"`
	Text string `json:"text" msgpack:"text"`
}

// Room is the server's remote interface.
type Room interface {
	// Join enters the room under name and returns the names of everyone in it.
	Join(ctx context.Context, name string) ([]string, error)
	// Send delivers text to every other member.
	Send(ctx context.Context, text string) error
}

// Member is the remote interface each client exposes to the room.
type Member interface {
	// Receive delivers one message.
	Receive(ctx context.Context, msg Message) error
}

// Server implements [Room]. It remembers each member's connection, learned from
// [tandem.PeerFromContext], and forgets it when the connection ends. It is safe for
// concurrent use.
type Server struct {
	// OnEvent, if set, hears joins and leaves, for the server program to print.
	OnEvent func(text string)

	mu      sync.Mutex
	members map[*tandem.Peer]string
}

var _ Room = (*Server)(nil)

// Join enters the room. Names must be unique and non-empty; a connection joins once.
func (s *Server) Join(ctx context.Context, name string) ([]string, error) {
	peer := tandem.PeerFromContext(ctx)
	if name == "" {
		return nil, tandem.NewError(tandem.CodeInvalidArgument, "empty name")
	}
	s.mu.Lock()
	if s.members == nil {
		s.members = make(map[*tandem.Peer]string)
	}
	if old, ok := s.members[peer]; ok {
		s.mu.Unlock()
		return nil, tandem.Errorf(tandem.CodeFailedPrecondition, "already joined as %q", old)
	}
	names := []string{name}
	for _, n := range s.members {
		if n == name {
			s.mu.Unlock()
			return nil, tandem.Errorf(tandem.CodeAlreadyExists, "the name %q is taken", name)
		}
		names = append(names, n)
	}
	s.members[peer] = name
	s.mu.Unlock()

	go func() {
		<-peer.Done()
		s.leave(peer)
	}()
	s.event(name + " joined")
	s.broadcast(peer, Message{Text: name + " joined"})
	slices.Sort(names)
	return names, nil
}

// Send delivers text to every member but the sender.
func (s *Server) Send(ctx context.Context, text string) error {
	peer := tandem.PeerFromContext(ctx)
	s.mu.Lock()
	name, ok := s.members[peer]
	s.mu.Unlock()
	if !ok {
		return tandem.NewError(tandem.CodeFailedPrecondition, "join first")
	}
	s.broadcast(peer, Message{From: name, Text: text})
	return nil
}

func (s *Server) leave(peer *tandem.Peer) {
	s.mu.Lock()
	name := s.members[peer]
	delete(s.members, peer)
	s.mu.Unlock()
	s.event(name + " left")
	s.broadcast(peer, Message{Text: name + " left"})
}

func (s *Server) event(text string) {
	if s.OnEvent != nil {
		s.OnEvent(text)
	}
}

// broadcast calls Receive on every member's own object except the one on from. It
// notifies (one-way), so a slow member does not hold up the sender.
func (s *Server) broadcast(from *tandem.Peer, msg Message) {
	s.mu.Lock()
	peers := make([]*tandem.Peer, 0, len(s.members))
	for p := range s.members {
		if p != from {
			peers = append(peers, p)
		}
	}
	s.mu.Unlock()
	for _, p := range peers {
		// A member that has gone away is forgotten by leave; its error needs no handling.
		_ = p.Notify(context.Background(), MemberName+".Receive", msg)
	}
}

// RoomClient is a [Room] whose calls run on the server over peer.
type RoomClient struct{ peer *tandem.Peer }

var _ Room = RoomClient{}

// NewRoomClient returns the room at the other end of peer.
func NewRoomClient(peer *tandem.Peer) RoomClient { return RoomClient{peer: peer} }

// Join enters the room on the server.
func (c RoomClient) Join(ctx context.Context, name string) ([]string, error) {
	var names []string
	err := c.peer.Call(ctx, RoomName+".Join", &names, name)
	return names, err
}

// Send delivers text through the server.
func (c RoomClient) Send(ctx context.Context, text string) error {
	return c.peer.Call(ctx, RoomName+".Send", nil, text)
}
