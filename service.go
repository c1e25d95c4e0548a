package tandem

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"reflect"
	"strings"
	"sync"
)

// Method describes one remotely callable method without reflection. [Server.Register] builds
// these from a Go value's method set; generated code and hand-written adapters build them
// directly and pass them to [Server.RegisterMethods].
type Method struct {
	// Name is the method's name, an exported Go identifier such as "Add".
	Name string
	// Signature is the Go signature shown by introspection and in bad-argument errors, such
	// as "func(ctx context.Context, a int, b int) (int, error)".
	Signature string
	// NumArgs is the number of arguments the method takes, not counting a context.
	NumArgs int
	// HasResult reports whether the method returns a value besides its error.
	HasResult bool
	// Invoke decodes the arguments with args and runs the method. Its result is sent back
	// when HasResult is set.
	Invoke func(ctx context.Context, args Args) (result any, err error)
}

// Args decodes the arguments of one incoming call. It is valid only during Invoke.
type Args interface {
	// Decode decodes the arguments into ptrs, one pointer per argument. It fails with
	// [ErrBadArguments] when the count or a type does not match.
	Decode(ptrs ...any) error
}

// Mode says how the calls of one service are run.
type Mode uint8

// The modes.
const (
	// Concurrent runs calls concurrently (the default). A small call may run on the
	// connection's reading goroutine, saving a hand-off; the reading then moves to another
	// goroutine as soon as the handler makes a call or waits on its context, or when it is
	// still running at the next of the reader's watches. So a call waits at most about a
	// millisecond for a handler that arrived before it on the same connection; 32ms if the
	// handler blocks after a run of calls that came one at a time, when the watch slows
	// down to every 16ms.
	Concurrent Mode = iota
	// Serialized runs one call at a time, in arrival order: the object needs no locks.
	Serialized
	// Pumped queues calls until the program runs them from its own loop with [Pump.Poll].
	Pumped
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case Concurrent:
		return "concurrent"
	case Serialized:
		return "serialized"
	case Pumped:
		return "pumped"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ServiceOption configures one registered service.
type ServiceOption interface{ applyService(*service) error }

type serviceOptionFunc func(*service) error

func (f serviceOptionFunc) applyService(s *service) error { return f(s) }

// WithSerialized runs the service's calls one at a time in arrival order, on one goroutine
// owned by the server. At most queue calls wait (0 means [DefaultQueueSize]); beyond that
// callers get [ErrOverloaded]. A serialized handler that calls back into its own service
// through a peer waits for itself: don't.
func WithSerialized(queue int) ServiceOption {
	return serviceOptionFunc(func(s *service) error {
		if queue < 0 {
			return errors.New("tandem: WithSerialized: negative queue size")
		}
		if queue == 0 {
			queue = DefaultQueueSize
		}
		s.mode = Serialized
		s.queue = make(chan *job, queue)
		return nil
	})
}

// WithPump queues the service's calls on p, to run when the program calls [Pump.Poll] from
// its own loop. Several services may share one pump.
func WithPump(p *Pump) ServiceOption {
	return serviceOptionFunc(func(s *service) error {
		if p == nil {
			return errors.New("tandem: WithPump: nil pump")
		}
		s.mode = Pumped
		s.queue = p.queue
		s.pump = p
		return nil
	})
}

// WithBorrowedBytes lets the service's handlers borrow their []byte arguments instead of
// getting copies: such an argument is a view of the buffer its call frame was read into,
// valid until the handler returns, and the buffer is reused for later frames. That saves
// an allocation, a copy and the garbage collection of both for every large argument (a
// 4 MiB echo over loopback went from about 540 to about 800 MB/s on the project's
// benchmark machine; bench/README.md).
//
// A handler that keeps such bytes, or part of them, beyond its return, or hands them to a
// goroutine that may, must copy them first (bytes.Clone): the buffer may hold another
// connection's frames by then (docs/security.md). Returning them as the result
// needs no copy: tandem writes the result before it reuses the buffer. Only arguments of
// type []byte are borrowed, not byte slices inside other arguments, and only with a codec
// that can (codec/msgpack, the default); with others the option changes nothing.
func WithBorrowedBytes() ServiceOption {
	return serviceOptionFunc(func(s *service) error {
		s.borrow = true
		return nil
	})
}

// service is one registered object.
type service struct {
	name    string
	mode    Mode
	borrow  bool      // WithBorrowedBytes
	queue   chan *job // Serialized and Pumped
	pump    *Pump
	methods map[string]*boundMethod
	order   []string // method names, sorted, for introspection
}

var (
	typeContext = reflect.TypeFor[context.Context]()
	typeError   = reflect.TypeFor[error]()
)

// reflectMethods builds the methods of obj that qualify, and a note per method that does not.
func reflectMethods(obj any) (methods []Method, skipped []string) {
	v := reflect.ValueOf(obj)
	t := v.Type()
	for i := range t.NumMethod() {
		m := t.Method(i)
		if !m.IsExported() {
			continue
		}
		desc, why := reflectMethod(v, m)
		if why != "" {
			skipped = append(skipped, m.Name+": "+why)
			continue
		}
		methods = append(methods, desc)
	}
	return methods, skipped
}

func reflectMethod(rcvr reflect.Value, m reflect.Method) (Method, string) {
	ft := rcvr.Method(m.Index).Type() // the signature without the receiver
	hasCtx := ft.NumIn() > 0 && ft.In(0) == typeContext
	first := 0
	if hasCtx {
		first = 1
	}
	var argTypes []reflect.Type
	for i := first; i < ft.NumIn(); i++ {
		at := ft.In(i)
		if at.Implements(typeContext) && at.Kind() == reflect.Interface {
			return Method{}, "a context.Context is allowed only as the first argument"
		}
		if why := unsupported(at); why != "" {
			return Method{}, fmt.Sprintf("argument %d: %s", i-first+1, why)
		}
		argTypes = append(argTypes, at)
	}
	hasResult, hasErr := false, false
	switch ft.NumOut() {
	case 0:
	case 1:
		if ft.Out(0) == typeError {
			hasErr = true
		} else {
			hasResult = true
		}
	case 2:
		if ft.Out(1) != typeError {
			return Method{}, "the second result must be error"
		}
		hasResult, hasErr = true, true
	default:
		return Method{}, "at most two results (a value and an error) are allowed"
	}
	if hasResult {
		if why := unsupported(ft.Out(0)); why != "" {
			return Method{}, "result: " + why
		}
	}
	sig := signature(ft, hasCtx)
	inv := &reflectInvoker{fn: m.Func, rcvr: rcvr, variadic: ft.IsVariadic(), hasCtx: hasCtx, argTypes: argTypes, hasResult: hasResult, hasErr: hasErr}
	return Method{Name: m.Name, Signature: sig, NumArgs: len(argTypes), HasResult: hasResult, Invoke: inv.invoke}, ""
}

// unsupported says why a type cannot travel, or "" if it can.
func unsupported(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return fmt.Sprintf("type %s cannot be sent over a connection", t)
	}
	return ""
}

// signature renders a method's type as Go source, naming arguments a, b, c...
func signature(ft reflect.Type, hasCtx bool) string {
	var b strings.Builder
	b.WriteString("func(")
	n := 0
	for i := range ft.NumIn() {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 0 && hasCtx {
			b.WriteString("ctx context.Context")
			continue
		}
		b.WriteString(string(rune('a' + n%26)))
		n++
		b.WriteString(" ")
		if ft.IsVariadic() && i == ft.NumIn()-1 {
			b.WriteString("..." + ft.In(i).Elem().String())
		} else {
			b.WriteString(ft.In(i).String())
		}
	}
	b.WriteString(")")
	switch ft.NumOut() {
	case 1:
		b.WriteString(" " + ft.Out(0).String())
	case 2:
		b.WriteString(" (" + ft.Out(0).String() + ", " + ft.Out(1).String() + ")")
	}
	return b.String()
}

// reflectInvoker calls one method through reflection. Its argument frames (the
// reflect.Values passed to Call and the pointers the codec decodes into) are recycled, and
// zeroed before reuse so no call sees another's arguments.
type reflectInvoker struct {
	fn        reflect.Value // the method's function; the receiver is its first argument
	rcvr      reflect.Value
	variadic  bool
	hasCtx    bool
	argTypes  []reflect.Type
	hasResult bool
	hasErr    bool
	frames    sync.Pool // of *reflectFrame
}

type reflectFrame struct {
	in   []reflect.Value // receiver, [ctx], arguments
	ptrs []any           // pointers to the arguments in in
	ctx  context.Context // in[1] refers to this field when the method takes a context
}

func (r *reflectInvoker) frame() *reflectFrame {
	if f, ok := r.frames.Get().(*reflectFrame); ok {
		return f
	}
	f := &reflectFrame{in: make([]reflect.Value, 0, len(r.argTypes)+2), ptrs: make([]any, len(r.argTypes))}
	f.in = append(f.in, r.rcvr)
	if r.hasCtx {
		f.in = append(f.in, reflect.ValueOf(&f.ctx).Elem())
	}
	for i, t := range r.argTypes {
		p := reflect.New(t)
		f.ptrs[i] = p.Interface()
		f.in = append(f.in, p.Elem())
	}
	return f
}

func (r *reflectInvoker) release(f *reflectFrame) {
	args := f.in[1:]
	if r.hasCtx {
		f.ctx = nil
		args = args[1:]
	}
	for _, a := range args {
		a.SetZero()
	}
	r.frames.Put(f)
}

func (r *reflectInvoker) invoke(ctx context.Context, args Args) (any, error) {
	f := r.frame()
	defer r.release(f)
	f.ctx = ctx
	if err := args.Decode(f.ptrs...); err != nil {
		return nil, err
	}
	var out []reflect.Value
	if r.variadic {
		out = r.fn.CallSlice(f.in)
	} else {
		out = r.fn.Call(f.in)
	}
	var res any
	var err error
	if r.hasResult {
		res = out[0].Interface()
	}
	if r.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			err = e.Interface().(error)
		}
	}
	return res, err
}

// validServiceName reports whether name can name a service.
func validServiceName(name string) bool {
	return name != "" && token.IsIdentifier(name) && !strings.Contains(name, ".")
}
