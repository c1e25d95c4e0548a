package contract

import (
	"sync"

	"github.com/tandem-rpc/tandem"
)

// Args decodes the arguments of one method into an In, a struct with a field per argument,
// for the server adapters tandem gen writes:
//
//	add := contract.NewArgs(func(in *addIn) []any { return []any{&in.a, &in.b} })
//	... Invoke: func(ctx context.Context, args tandem.Args) (any, error) {
//		in, err := add.Decode(args)
//		if err != nil {
//			return nil, err
//		}
//		return impl.Add(ctx, in.a, in.b)
//	}
//
// The codec decodes through pointers, and pointers handed to it escape: an In declared in
// the handler, and the list of pointers to its fields, would be allocated on every call.
// Args keeps them in frames it recycles, so decoding allocates only what the values
// themselves hold (a string's bytes, a slice's array). A frame is zeroed before reuse: each
// call decodes into a zero In, as into a new one.
//
// An Args is safe for concurrent use.
type Args[In any] struct {
	fields func(*In) []any
	frames sync.Pool // of *argsFrame[In]
}

// argsFrame is one call's In and the pointers to its fields.
type argsFrame[In any] struct {
	in   In
	ptrs []any
}

// NewArgs returns an Args for In. fields returns pointers to the fields of in, one per
// argument, in the order of the method's parameters.
func NewArgs[In any](fields func(in *In) []any) *Args[In] {
	return &Args[In]{fields: fields}
}

// Decode decodes args into an In and returns it, or returns the error of args.Decode.
func (a *Args[In]) Decode(args tandem.Args) (In, error) {
	f, _ := a.frames.Get().(*argsFrame[In])
	if f == nil {
		f = new(argsFrame[In])
		f.ptrs = a.fields(&f.in)
	}
	err := args.Decode(f.ptrs...)
	in := f.in
	var zero In
	f.in = zero
	a.frames.Put(f)
	return in, err
}
