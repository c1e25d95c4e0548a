package tandem

import "errors"

// Pump holds the calls of services registered with [WithPump] until the program runs them
// from its own loop, the way a game tick or a GUI thread would. Poll may be called from any
// goroutine, but calls run on the goroutine that polls.
type Pump struct {
	queue chan *job
	ready chan struct{}
}

// NewPump returns a pump that holds at most queue waiting calls (0 means
// [DefaultQueueSize]); callers beyond that get [ErrOverloaded].
func NewPump(queue int) (*Pump, error) {
	if queue < 0 {
		return nil, errors.New("tandem: NewPump: negative queue size")
	}
	if queue == 0 {
		queue = DefaultQueueSize
	}
	return &Pump{queue: make(chan *job, queue), ready: make(chan struct{}, 1)}, nil
}

// Poll runs up to max waiting calls on the calling goroutine and returns how many it ran.
// It does not wait: with nothing queued it returns 0. max <= 0 means every call queued now.
func (p *Pump) Poll(max int) int {
	if max <= 0 {
		max = len(p.queue)
	}
	n := 0
	for n < max {
		select {
		case j := <-p.queue:
			j.peer.run(j)
			n++
		default:
			return n
		}
	}
	if len(p.queue) > 0 {
		p.signal()
	}
	return n
}

// Ready returns a channel that receives a value when calls are waiting, for a loop that
// selects on it alongside its own work before calling Poll.
func (p *Pump) Ready() <-chan struct{} { return p.ready }

// Len returns the number of waiting calls.
func (p *Pump) Len() int { return len(p.queue) }

func (p *Pump) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}
