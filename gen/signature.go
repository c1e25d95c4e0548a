package gen

import (
	"go/types"
	"strconv"
	"strings"
)

// signature renders a method the way tandem's reflective registration does, so that a
// contract matches a server whichever way it registered the service: the context is "ctx",
// the other parameters are named a, b, c..., and types are written as reflect.Type.String
// writes them (package name, not path; byte as uint8; any as interface {}).
func signature(m *method) string {
	var b strings.Builder
	b.WriteString("func(ctx context.Context")
	for i, t := range m.params {
		b.WriteString(", ")
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(' ')
		if m.variadic && i == len(m.params)-1 {
			b.WriteString("...")
			t = t.(*types.Slice).Elem()
		}
		writeReflect(&b, t)
	}
	b.WriteString(")")
	if m.result == nil {
		b.WriteString(" error")
	} else {
		b.WriteString(" (")
		writeReflect(&b, m.result)
		b.WriteString(", error)")
	}
	return b.String()
}

// writeReflect writes t as reflect.Type.String would.
func writeReflect(b *strings.Builder, t types.Type) {
	switch t := types.Unalias(t).(type) {
	case *types.Basic:
		if t.Kind() == types.UnsafePointer {
			b.WriteString("unsafe.Pointer")
			return
		}
		b.WriteString(types.Typ[t.Kind()].Name())
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() != nil {
			b.WriteString(obj.Pkg().Name() + ".")
		}
		b.WriteString(obj.Name())
		if args := t.TypeArgs(); args.Len() > 0 {
			// Instantiated types are named with their arguments' full package paths.
			b.WriteByte('[')
			for i := range args.Len() {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(types.TypeString(args.At(i), func(p *types.Package) string { return p.Path() }))
			}
			b.WriteByte(']')
		}
	case *types.Pointer:
		b.WriteByte('*')
		writeReflect(b, t.Elem())
	case *types.Slice:
		b.WriteString("[]")
		writeReflect(b, t.Elem())
	case *types.Array:
		b.WriteString("[" + strconv.FormatInt(t.Len(), 10) + "]")
		writeReflect(b, t.Elem())
	case *types.Map:
		b.WriteString("map[")
		writeReflect(b, t.Key())
		b.WriteByte(']')
		writeReflect(b, t.Elem())
	case *types.Chan:
		switch t.Dir() {
		case types.RecvOnly:
			b.WriteString("<-chan ")
		case types.SendOnly:
			b.WriteString("chan<- ")
		default:
			b.WriteString("chan ")
		}
		writeReflect(b, t.Elem())
	case *types.Signature:
		b.WriteString("func")
		writeFunc(b, t)
	case *types.Struct:
		if t.NumFields() == 0 {
			b.WriteString("struct {}")
			return
		}
		b.WriteString("struct { ")
		for i := range t.NumFields() {
			if i > 0 {
				b.WriteString("; ")
			}
			f := t.Field(i)
			if !f.Embedded() {
				b.WriteString(f.Name() + " ")
			}
			writeReflect(b, f.Type())
			if tag := t.Tag(i); tag != "" {
				b.WriteString(" " + strconv.Quote(tag))
			}
		}
		b.WriteString(" }")
	case *types.Interface:
		if t.NumMethods() == 0 {
			b.WriteString("interface {}")
			return
		}
		b.WriteString("interface { ")
		for i := range t.NumMethods() {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(t.Method(i).Name())
			writeFunc(b, t.Method(i).Type().(*types.Signature))
		}
		b.WriteString(" }")
	default:
		b.WriteString(t.String())
	}
}

// writeFunc writes a function's parameters and results, unnamed, as reflect does.
func writeFunc(b *strings.Builder, sig *types.Signature) {
	b.WriteByte('(')
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			b.WriteString("...")
			t = t.(*types.Slice).Elem()
		}
		writeReflect(b, t)
	}
	b.WriteByte(')')
	switch n := sig.Results().Len(); n {
	case 0:
	case 1:
		b.WriteByte(' ')
		writeReflect(b, sig.Results().At(0).Type())
	default:
		b.WriteString(" (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			writeReflect(b, sig.Results().At(i).Type())
		}
		b.WriteByte(')')
	}
}
