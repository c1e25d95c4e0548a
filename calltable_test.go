package tandem

import (
	"slices"
	"testing"
)

// Calls whose slots collide, tableSlots ids of one side apart, go to the map and are still
// found and removed by id; a removed call, or another call with its id, is not found.
func TestCallTable(t *testing.T) {
	var tbl callTable
	const ids = 3 * tableSlots // three calls per slot
	calls := make([]*Call, ids)
	for i := range calls {
		calls[i] = &Call{id: uint64(2*i + 1)} // a dialer's ids: 1, 3, 5, ...
		tbl.put(calls[i])
	}
	if tbl.len() != ids {
		t.Fatalf("len = %d, want %d", tbl.len(), ids)
	}
	for _, c := range calls {
		if got := tbl.get(c.id); got != c {
			t.Fatalf("get(%d) = %p, want %p", c.id, got, c)
		}
	}
	if got := tbl.get(2); got != nil {
		t.Errorf("get(2) = %p, want nil", got)
	}
	if tbl.remove(&Call{id: calls[0].id}) {
		t.Error("removed a call that only shares an id with one in the table")
	}
	// Remove every other call, slot holders and map entries alike.
	var kept []*Call
	for i, c := range calls {
		if i%2 == 0 {
			if !tbl.remove(c) {
				t.Fatalf("remove(%d) = false", c.id)
			}
			if tbl.remove(c) {
				t.Fatalf("removed %d twice", c.id)
			}
			if got := tbl.get(c.id); got != nil {
				t.Fatalf("get(%d) after remove = %p", c.id, got)
			}
		} else {
			kept = append(kept, c)
		}
	}
	if tbl.len() != len(kept) {
		t.Fatalf("len = %d, want %d", tbl.len(), len(kept))
	}
	byID := func(a, b *Call) int { return int(a.id) - int(b.id) }
	all := tbl.all()
	slices.SortFunc(all, byID)
	if !slices.Equal(all, kept) {
		t.Fatalf("all() holds %d calls, want the %d kept", len(all), len(kept))
	}
	// A freed slot takes the next call with its index.
	c := &Call{id: calls[0].id + 2*ids}
	tbl.put(c)
	if tbl.slots[slotOf(c.id)] != c {
		t.Error("a freed slot was not reused")
	}

	var none *callTable // a closed peer's
	if none.get(1) != nil || none.remove(c) || none.len() != 0 || len(none.all()) != 0 {
		t.Error("a nil table is not empty")
	}
}
