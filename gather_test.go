package tandem

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// recordingConn records each write; nothing else of it is used.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, string(b))
	return len(b), nil
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func (c *recordingConn) written() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.writes)
}

// A sender that gathers yields before it writes; a frame committed meanwhile is left to it
// and goes out in the same write.
func TestGatheringSenderTakesFramesCommittedWhileItYields(t *testing.T) {
	conn := &recordingConn{}
	w := newWriter(conn, newClock(), 1<<20, time.Minute, func(err error) { t.Errorf("write failed: %v", err) })
	go w.loop()
	defer func() {
		w.stop(ErrConnectionLost, false)
		<-w.exited
	}()

	send := func(frame string, id uint64, mode sendMode) {
		b, err := w.begin()
		if err != nil {
			t.Fatal(err)
		}
		w.commitFrame(append(b, frame...), len(b), wire.KindCall, id, mode)
	}
	yielded := 0
	w.yield = func() {
		yielded++
		send("second;", 2, sendNow)
		if got := conn.written(); len(got) != 0 {
			t.Errorf("a sender wrote %q while another gathered", got)
		}
	}
	send("first;", 1, sendGathered)
	if yielded != 1 {
		t.Fatalf("the gathering sender yielded %d times, want 1", yielded)
	}
	if got, want := conn.written(), []string{"first;second;"}; !slices.Equal(got, want) {
		t.Fatalf("writes %q, want %q", got, want)
	}

	// Sent at once, a frame goes out alone, without a yield.
	send("third;", 3, sendNow)
	if got, want := conn.written(), []string{"first;second;", "third;"}; !slices.Equal(got, want) || yielded != 1 {
		t.Fatalf("writes %q after %d yields, want %q after 1", got, yielded, want)
	}
}
