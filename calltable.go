package tandem

// tableSlots is how many pending calls a callTable keeps by position; a power of two.
const tableSlots = 32

// callTable holds a peer's pending calls by id. A side numbers its calls in steps of two,
// so the calls in flight at one time, usually one or a few, have neighbouring ids: each
// sits in the slot its id picks, and registering, finding and removing it touches one
// slot. A call whose slot is taken, by one still pending from tableSlots calls earlier,
// goes to a map instead.
//
// A Go map did the same job. Between two calls of a sequential exchange the kernel and
// the other process run, and little of a map stays in the processor's caches: in place,
// finding and removing the call took about 400ns of the client's 3µs per call (bench/,
// timed in the running processes), and removing a map's last entry draws a new hash seed.
//
// It is guarded by the peer's mu. A nil table is empty: get, remove, len and all work on it.
type callTable struct {
	slots [tableSlots]*Call
	more  map[uint64]*Call // calls whose slot was taken; nil until needed
	n     int              // how many calls it holds
}

func slotOf(id uint64) int { return int(id>>1) & (tableSlots - 1) }

// put adds c, whose id is set and not in the table.
func (t *callTable) put(c *Call) {
	if s := &t.slots[slotOf(c.id)]; *s == nil {
		*s = c
	} else {
		if t.more == nil {
			t.more = make(map[uint64]*Call)
		}
		t.more[c.id] = c
	}
	t.n++
}

// get returns the call with the given id, or nil.
func (t *callTable) get(id uint64) *Call {
	if t == nil {
		return nil
	}
	if c := t.slots[slotOf(id)]; c != nil && c.id == id {
		return c
	}
	if t.more == nil {
		return nil
	}
	return t.more[id]
}

// remove takes c out of the table and reports whether it was there.
func (t *callTable) remove(c *Call) bool {
	if t == nil {
		return false
	}
	if s := &t.slots[slotOf(c.id)]; *s == c {
		*s = nil
	} else if t.more[c.id] == c {
		delete(t.more, c.id)
	} else {
		return false
	}
	t.n--
	return true
}

// len returns how many calls the table holds.
func (t *callTable) len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// all returns the calls the table holds, in no particular order.
func (t *callTable) all() []*Call {
	if t == nil {
		return nil
	}
	calls := make([]*Call, 0, t.len())
	for _, c := range t.slots {
		if c != nil {
			calls = append(calls, c)
		}
	}
	for _, c := range t.more {
		calls = append(calls, c)
	}
	return calls
}
