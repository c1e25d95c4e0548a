// Package chat is the contract of the chat example. The server exposes a [Room]; every
// client exposes a [Member] on the same connection, which the room calls to deliver
// messages: both ends are peers. The typed clients and server adapters of both interfaces
// ([NewRoomClient], [RegisterRoom], [NewMemberClient], [RegisterMember]) are generated into
// room_tandem.go by tandem gen.
package chat

//go:generate go run github.com/tandem-rpc/tandem/cmd/tandem gen -type Room,Member

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tandem-rpc/tandem"
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

const (
	// outboxSize is how many messages a member may fall behind before the room
	// disconnects it.
	outboxSize = 64
	// deliveryTimeout bounds one call of a member's Receive.
	deliveryTimeout = 5 * time.Second
)

// Server implements [Room]. It reaches each member through a [Member] client on the
// member's own connection, learned from [tandem.PeerFromContext], and forgets the member
// when the connection ends. It is safe for concurrent use.
//
// Delivery: every member has an outbox and one goroutine that calls its Receive for each
// message in turn, with a timeout. Sending only queues, so a slow member never holds up
// the sender or the other members, and each member still hears messages in the order the
// room sent them (a goroutine per message would lose that order). A member that lets its
// outbox fill is disconnected rather than silently losing lines.
type Server struct {
	// OnEvent, if set, hears joins and leaves, for the server program to print.
	OnEvent func(text string)

	mu      sync.Mutex
	members map[*tandem.Peer]*member
}

// member is one joined connection.
type member struct {
	name   string
	peer   *tandem.Peer
	client Member // the member's own object, at the other end of peer
	outbox chan Message
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
		s.members = make(map[*tandem.Peer]*member)
	}
	if old, ok := s.members[peer]; ok {
		s.mu.Unlock()
		return nil, tandem.Errorf(tandem.CodeFailedPrecondition, "already joined as %q", old.name)
	}
	names := []string{name}
	for _, m := range s.members {
		if m.name == name {
			s.mu.Unlock()
			return nil, tandem.Errorf(tandem.CodeAlreadyExists, "the name %q is taken", name)
		}
		names = append(names, m.name)
	}
	m := &member{name: name, peer: peer, client: NewMemberClient(peer), outbox: make(chan Message, outboxSize)}
	s.members[peer] = m
	s.mu.Unlock()

	go s.deliver(m)
	s.event(name + " joined")
	s.broadcast(peer, Message{Text: name + " joined"})
	slices.Sort(names)
	return names, nil
}

// Send delivers text to every member but the sender.
func (s *Server) Send(ctx context.Context, text string) error {
	peer := tandem.PeerFromContext(ctx)
	s.mu.Lock()
	m, ok := s.members[peer]
	s.mu.Unlock()
	if !ok {
		return tandem.NewError(tandem.CodeFailedPrecondition, "join first")
	}
	s.broadcast(peer, Message{From: m.name, Text: text})
	return nil
}

// deliver passes m's queued messages to its Receive one at a time, until m's connection
// ends; then m leaves the room.
func (s *Server) deliver(m *member) {
	for {
		select {
		case msg := <-m.outbox:
			ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
			// A failed delivery needs no handling: a member that has gone away is
			// forgotten below, and one that timed out still gets the next message.
			_ = m.client.Receive(ctx, msg)
			cancel()
		case <-m.peer.Done():
			s.leave(m)
			return
		}
	}
}

func (s *Server) leave(m *member) {
	s.mu.Lock()
	delete(s.members, m.peer)
	s.mu.Unlock()
	s.event(m.name + " left")
	s.broadcast(m.peer, Message{Text: m.name + " left"})
}

func (s *Server) event(text string) {
	if s.OnEvent != nil {
		s.OnEvent(text)
	}
}

// broadcast queues msg for every member except the one on from. It never waits for a
// member: one whose outbox is full is disconnected.
func (s *Server) broadcast(from *tandem.Peer, msg Message) {
	s.mu.Lock()
	var slow []*member
	for p, m := range s.members {
		if p == from {
			continue
		}
		select {
		case m.outbox <- msg:
		default:
			slow = append(slow, m)
		}
	}
	s.mu.Unlock()
	for _, m := range slow {
		// Its deliver goroutine sees the connection end and announces that it left.
		m.peer.Close()
	}
}
