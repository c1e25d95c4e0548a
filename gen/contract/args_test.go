package contract_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/gen/contract"
)

// fakeArgs decodes like a codec would: vals[i] into ptrs[i], stopping at a nil value.
type fakeArgs struct {
	vals []any
	err  error
}

func (a fakeArgs) Decode(ptrs ...any) error {
	for i, v := range a.vals {
		if v == nil {
			break
		}
		switch p := ptrs[i].(type) {
		case *int64:
			*p = v.(int64)
		case *string:
			*p = v.(string)
		case *[]byte:
			*p = v.([]byte)
		default:
			return errors.New("unexpected pointer type")
		}
	}
	return a.err
}

type addIn struct {
	a, b int64
	name string
	data []byte
}

func newAddArgs() *contract.Args[addIn] {
	return contract.NewArgs(func(in *addIn) []any { return []any{&in.a, &in.b, &in.name, &in.data} })
}

// Each call decodes into a zero In: what an earlier call decoded into a recycled frame
// does not show through.
func TestArgsDecodeIntoZeroFrames(t *testing.T) {
	args := newAddArgs()
	in, err := args.Decode(fakeArgs{vals: []any{int64(1) << 40, int64(7), "first", []byte("data")}})
	if err != nil || in.a != 1<<40 || in.b != 7 || in.name != "first" || string(in.data) != "data" {
		t.Fatalf("first call: %+v, %v", in, err)
	}
	for range 10 { // the frame comes back from the pool, most of the time
		in, err = args.Decode(fakeArgs{vals: []any{int64(3), nil}})
		if err != nil || in.a != 3 || in.b != 0 || in.name != "" || in.data != nil {
			t.Fatalf("partial call: %+v, %v; want only a decoded", in, err)
		}
	}
	failed := errors.New("bad arguments")
	in, err = args.Decode(fakeArgs{vals: []any{int64(5), int64(6)}, err: failed})
	if !errors.Is(err, failed) {
		t.Fatalf("err = %v, want %v", err, failed)
	}
	if in.a != 5 || in.b != 6 {
		t.Errorf("failed call returned %+v, want what was decoded before the error", in)
	}
}

// Calls decoding at once each get their own frame.
func TestArgsConcurrentDecodes(t *testing.T) {
	args := newAddArgs()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a, b := int64(g), int64(i)
				in, err := args.Decode(fakeArgs{vals: []any{a, b}})
				if err != nil || in.a != a || in.b != b {
					t.Errorf("goroutine %d call %d: %+v, %v", g, i, in, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Decoding allocates nothing of its own once a frame is recycled.
func TestArgsDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops frames at random under -race")
	}
	args := newAddArgs()
	var fa tandem.Args = fakeArgs{vals: []any{int64(1), int64(2)}}
	if n := testing.AllocsPerRun(100, func() { _, _ = args.Decode(fa) }); n != 0 {
		t.Errorf("Decode allocates %v times a call, want 0", n)
	}
}
