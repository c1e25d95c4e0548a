package gen

import (
	"fmt"
	"go/types"
	"slices"
	"strings"
)

// service is an interface that passed the checks.
type service struct {
	name    string
	methods []*method // sorted by name
}

// method is one remotely callable method.
type method struct {
	name     string
	params   []types.Type // after the context; the last is a slice when variadic
	variadic bool
	result   types.Type // nil when the method returns only an error
	sig      string     // as tandem's introspection renders it
}

// service checks the interface called name and builds its model, or says what is wrong.
func (p *pkgInfo) service(name string) (*service, []Problem) {
	obj := p.types.Scope().Lookup(name)
	if obj == nil {
		return nil, []Problem{{Name: name, Msg: fmt.Sprintf("no such type in package %s", p.types.Path())}}
	}
	bad := func(msg string) (*service, []Problem) {
		return nil, []Problem{{Pos: p.pos(obj.Pos()), Name: name, Msg: msg}}
	}
	tn, ok := obj.(*types.TypeName)
	if !ok {
		return bad("not a type")
	}
	if n, ok := types.Unalias(tn.Type()).(*types.Named); ok && n.TypeParams().Len() > 0 {
		return bad("generic interfaces are not supported")
	}
	iface, ok := tn.Type().Underlying().(*types.Interface)
	if !ok {
		return bad(fmt.Sprintf("%s is not an interface type", kindOf(tn.Type().Underlying())))
	}
	if !iface.IsMethodSet() {
		return bad("type constraints cannot be served")
	}
	if iface.NumMethods() == 0 {
		return bad("the interface has no methods")
	}
	svc := &service{name: name}
	var problems []Problem
	for i := range iface.NumMethods() {
		fn := iface.Method(i)
		m, msgs := checkMethod(fn)
		for _, msg := range msgs {
			problems = append(problems, Problem{Pos: p.pos(fn.Pos()), Name: name + "." + fn.Name(), Msg: msg})
		}
		if m != nil {
			svc.methods = append(svc.methods, m)
		}
	}
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(svc.methods, func(a, b *method) int { return strings.Compare(a.name, b.name) })
	if len(problems) > 0 {
		return nil, problems
	}
	return svc, nil
}

// checkMethod builds a method's model, or returns every reason it cannot be called remotely.
func checkMethod(fn *types.Func) (*method, []string) {
	var msgs []string
	if !fn.Exported() {
		msgs = append(msgs, "unexported methods cannot be called remotely; export it or move it to another interface")
	}
	sig := fn.Type().(*types.Signature)
	if invalid(sig) {
		return nil, []string{"its signature uses types that do not compile (see the package errors below)"}
	}
	m := &method{name: fn.Name(), variadic: sig.Variadic()}
	params, results := sig.Params(), sig.Results()
	switch {
	case params.Len() == 0:
		msgs = append(msgs, "the first parameter must be a context.Context; the method has no parameters")
	case !isContext(params.At(0).Type()):
		msgs = append(msgs, fmt.Sprintf("the first parameter must be a context.Context, not %s", typeName(params.At(0).Type())))
	}
	for i := 1; i < params.Len(); i++ {
		t := params.At(i).Type()
		switch {
		case isContext(t):
			msgs = append(msgs, fmt.Sprintf("parameter %d: a context.Context is allowed only as the first parameter", i+1))
		case unsupported(t, nil) != "":
			msgs = append(msgs, fmt.Sprintf("parameter %d (%s): %s", i+1, typeName(t), unsupported(t, nil)))
		}
		m.params = append(m.params, t)
	}
	switch n := results.Len(); {
	case n == 0:
		msgs = append(msgs, "the method must return an error as its last result; it returns nothing")
	case !isError(results.At(n - 1).Type()):
		msgs = append(msgs, fmt.Sprintf("the last result must be error, not %s", typeName(results.At(n-1).Type())))
	case n > 2:
		msgs = append(msgs, fmt.Sprintf("at most one result besides the error is allowed; the method has %d results", n))
	case n == 2:
		t := results.At(0).Type()
		if why := unsupported(t, nil); why != "" {
			msgs = append(msgs, fmt.Sprintf("result (%s): %s", typeName(t), why))
		}
		m.result = t
	}
	if len(msgs) > 0 {
		return nil, msgs
	}
	m.sig = signature(m)
	return m, nil
}

// invalid reports whether sig mentions a type the type checker could not resolve.
func invalid(sig *types.Signature) bool {
	for _, tup := range []*types.Tuple{sig.Params(), sig.Results()} {
		for i := range tup.Len() {
			if strings.Contains(types.TypeString(tup.At(i).Type(), nil), "invalid type") {
				return true
			}
		}
	}
	return false
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// unsupported says why values of t cannot travel over a connection, or "" if they can. It
// looks through pointers, slices, arrays and maps, not into structs, whose codecs may skip
// or marshal fields their own way.
func unsupported(t types.Type, seen map[types.Type]bool) string {
	if seen[t] {
		return ""
	}
	if seen == nil {
		seen = map[types.Type]bool{}
	}
	seen[t] = true
	switch u := types.Unalias(t).Underlying().(type) {
	case *types.Chan:
		return "channels cannot be sent over a connection"
	case *types.Signature:
		return "functions cannot be sent over a connection"
	case *types.Basic:
		if u.Kind() == types.UnsafePointer {
			return "unsafe.Pointer cannot be sent over a connection"
		}
	case *types.Pointer:
		return unsupported(u.Elem(), seen)
	case *types.Slice:
		return unsupported(u.Elem(), seen)
	case *types.Array:
		return unsupported(u.Elem(), seen)
	case *types.Map:
		if why := unsupported(u.Key(), seen); why != "" {
			return why
		}
		return unsupported(u.Elem(), seen)
	}
	return ""
}

// typeName renders t for messages, qualified by package name.
func typeName(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

// kindOf names the kind of an underlying type for messages.
func kindOf(t types.Type) string {
	switch t := t.(type) {
	case *types.Struct:
		return "a struct"
	case *types.Basic:
		return t.Name()
	case *types.Pointer:
		return "a pointer"
	case *types.Signature:
		return "a function type"
	case *types.Slice, *types.Array:
		return "a list type"
	case *types.Map:
		return "a map type"
	case *types.Chan:
		return "a channel type"
	}
	return typeName(t)
}
