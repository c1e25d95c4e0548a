package gen

import (
	"bytes"
	"fmt"
	"go/format"
	"go/types"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Import paths of the packages generated code uses.
const (
	tandemPath   = "github.com/tandem-rpc/tandem"
	contractPath = "github.com/tandem-rpc/tandem/gen/contract"
)

// locals are the identifiers generated code declares inside functions; imports avoid them.
var locals = []string{"ctx", "args", "impl", "srv", "opts", "conn", "err", "in", "m", "r", "x"}

// file renders one generated file, tracking the imports its types need.
type file struct {
	pkg     *pkgInfo
	imports map[string]string // path -> local name
	taken   map[string]bool   // identifiers the file's imports and locals use
	params  []string          // parameter names by position
	body    bytes.Buffer
}

// render writes the code for services, in order, and formats it.
func render(p *pkgInfo, typeNames []string, services []*service) ([]byte, error) {
	f := &file{pkg: p, imports: map[string]string{}, taken: map[string]bool{}}
	for _, l := range locals {
		f.taken[l] = true
	}
	maxParams := 0
	for _, s := range services {
		for _, m := range s.methods {
			maxParams = max(maxParams, len(m.params))
		}
	}
	for i := range maxParams {
		f.params = append(f.params, f.fresh(paramName(i)))
	}
	f.use("context", "context")
	f.use(tandemPath, "tandem")
	f.use(contractPath, "contract")
	var problems []Problem
	for _, s := range services {
		problems = append(problems, f.checkNames(s)...)
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	for _, s := range services {
		f.service(s)
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "%s%s%s\n\n", headerPrefix, strings.Join(typeNames, ","), headerSuffix)
	fmt.Fprintf(&out, "package %s\n\nimport (\n", p.types.Name())
	paths := make([]string, 0, len(f.imports))
	for path := range f.imports {
		paths = append(paths, path)
	}
	slices.SortFunc(paths, func(a, b string) int {
		if sa, sb := isStd(a), isStd(b); sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for i, path := range paths {
		if i > 0 && isStd(paths[i-1]) && !isStd(path) {
			out.WriteString("\n")
		}
		name := f.imports[path]
		if name == lastElem(path) {
			name = ""
		}
		fmt.Fprintf(&out, "\t%s %q\n", name, path)
	}
	out.WriteString(")\n")
	out.Write(f.body.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("tandem gen: formatting generated code: %w (this is a bug in tandem gen)", err)
	}
	return src, nil
}

// paramName is the name of parameter i: a, b, ... z, a1, b1, ...
func paramName(i int) string {
	s := string(rune('a' + i%26))
	if i >= 26 {
		s += strconv.Itoa(i / 26)
	}
	return s
}

// fresh returns base, or base with underscores appended, so that it names nothing else in
// the file or the package.
func (f *file) fresh(base string) string {
	name := base
	for f.taken[name] || f.pkg.types.Scope().Lookup(name) != nil {
		name += "_"
	}
	f.taken[name] = true
	return name
}

// use records an import and returns its local name.
func (f *file) use(path, name string) string {
	if local, ok := f.imports[path]; ok {
		return local
	}
	base := name
	for i := 2; f.taken[name] || f.pkg.types.Scope().Lookup(name) != nil; i++ {
		name = base + strconv.Itoa(i)
	}
	f.taken[name] = true
	f.imports[path] = name
	return name
}

// qualify is the types.Qualifier for generated code.
func (f *file) qualify(p *types.Package) string {
	if p == f.pkg.types {
		return ""
	}
	return f.use(p.Path(), p.Name())
}

// typ renders t as Go source in the generated file.
func (f *file) typ(t types.Type) string { return types.TypeString(t, f.qualify) }

// isStd reports whether path is in the standard library (its first element has no dot).
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// lastElem returns the last element of an import path.
func lastElem(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// names of the declarations generated for one service.
func contractName(s string) string { return s + "Contract" }
func clientType(s string) string   { return lowerFirst(s) + "Client" }
func newName(s string) string      { return exported(s, "New"+upperFirst(s)+"Client") }
func registerName(s string) string { return exported(s, "Register"+upperFirst(s)) }

// checkNames reports generated names that the package already declares.
func (f *file) checkNames(s *service) []Problem {
	var problems []Problem
	for _, n := range []string{contractName(s.name), newName(s.name), registerName(s.name), clientType(s.name)} {
		if obj := f.pkg.types.Scope().Lookup(n); obj != nil {
			problems = append(problems, Problem{Pos: f.pkg.pos(obj.Pos()), Name: s.name,
				Msg: fmt.Sprintf("the package already declares %s, which the generated code would declare", n)})
		}
	}
	return problems
}

// service writes the contract, the client and the server adapter of one interface.
func (f *file) service(s *service) {
	tandem, contract, context := f.imports[tandemPath], f.imports[contractPath], f.imports["context"]
	w := &f.body
	cn, ct := contractName(s.name), clientType(s.name)

	fmt.Fprintf(w, "\n// %s is the contract of [%s]: its service name and the\n", cn, s.name)
	fmt.Fprintf(w, "// signature of each method. Clients check it against the server's.\n")
	fmt.Fprintf(w, "var %s = %s.Contract{Service: %q, Methods: []%s.MethodInfo{\n", cn, contract, s.name, tandem)
	for _, m := range s.methods {
		fmt.Fprintf(w, "{Name: %q, Signature: %q},\n", m.name, m.sig)
	}
	fmt.Fprintf(w, "}}\n")

	fmt.Fprintf(w, "\n// %s returns a [%s] that calls the %s service\n", newName(s.name), s.name, s.name)
	fmt.Fprintf(w, "// through conn: a [%s.Peer], or a [%s.Client] that keeps a connection up.\n", tandem, tandem)
	fmt.Fprintf(w, "// The first call on each connection checks [%s]; a server\n", cn)
	fmt.Fprintf(w, "// that does not match fails it with a [contract.MismatchError].\n")
	fmt.Fprintf(w, "func %s(conn %s.Caller) %s {\n", newName(s.name), tandem, s.name)
	fmt.Fprintf(w, "return %s{%s.NewClient(conn, %s)}\n}\n", ct, contract, cn)

	fmt.Fprintf(w, "\n// %s exposes impl on srv as the %s service. It calls\n", registerName(s.name), s.name)
	fmt.Fprintf(w, "// impl's methods directly, without reflection; opts are [tandem.ServiceOption]s.\n")
	fmt.Fprintf(w, "func %s(srv *%s.Server, impl %s, opts ...%s.ServiceOption) error {\n", registerName(s.name), tandem, s.name, tandem)
	fmt.Fprintf(w, "m := %s.Methods\n", cn)
	// A method with arguments decodes them through a contract.Args, which recycles what
	// the codec decodes into.
	for i, m := range s.methods {
		if len(m.params) == 0 {
			continue
		}
		ptrs := make([]string, len(m.params))
		fmt.Fprintf(w, "args%d := %s.NewArgs(func(in *struct {\n", i, contract)
		for j, t := range m.params {
			fmt.Fprintf(w, "%s %s\n", f.params[j], f.typ(t))
			ptrs[j] = "&in." + f.params[j]
		}
		fmt.Fprintf(w, "}) []any {\nreturn []any{%s}\n})\n", strings.Join(ptrs, ", "))
	}
	fmt.Fprintf(w, "return srv.RegisterMethods(%q, []%s.Method{\n", s.name, tandem)
	for i, m := range s.methods {
		fmt.Fprintf(w, "{Name: m[%d].Name, Signature: m[%d].Signature, NumArgs: %d, HasResult: %t, Invoke: func(ctx %s.Context, args %s.Args) (any, error) {\n",
			i, i, len(m.params), m.result != nil, context, tandem)
		callArgs := []string{"ctx"}
		if len(m.params) > 0 {
			for j := range m.params {
				callArgs = append(callArgs, "in."+f.params[j])
			}
			if m.variadic {
				callArgs[len(callArgs)-1] += "..."
			}
			fmt.Fprintf(w, "in, err := args%d.Decode(args)\nif err != nil {\nreturn nil, err\n}\n", i)
		} else {
			w.WriteString("if err := args.Decode(); err != nil {\nreturn nil, err\n}\n")
		}
		call := fmt.Sprintf("impl.%s(%s)", m.name, strings.Join(callArgs, ", "))
		if m.result == nil {
			fmt.Fprintf(w, "return nil, %s\n", call)
		} else {
			fmt.Fprintf(w, "return %s\n", call)
		}
		w.WriteString("}},\n")
	}
	fmt.Fprintf(w, "}, opts...)\n}\n")

	fmt.Fprintf(w, "\n// %s implements [%s] by calling the remote service.\n", ct, s.name)
	fmt.Fprintf(w, "type %s struct{ c *%s.Client }\n", ct, contract)
	for _, m := range s.methods {
		params := []string{"ctx " + context + ".Context"}
		args := []string{"ctx", strconv.Quote(s.name + "." + m.name)}
		for j, t := range m.params {
			ts := f.typ(t)
			if m.variadic && j == len(m.params)-1 {
				ts = "..." + f.typ(t.(*types.Slice).Elem())
			}
			params = append(params, f.params[j]+" "+ts)
		}
		if m.result == nil {
			args = append(args, "nil")
			args = append(args, f.params[:len(m.params)]...)
			fmt.Fprintf(w, "\nfunc (x %s) %s(%s) error {\nreturn x.c.Call(%s)\n}\n", ct, m.name, strings.Join(params, ", "), strings.Join(args, ", "))
			continue
		}
		args = append(args, "&r")
		args = append(args, f.params[:len(m.params)]...)
		fmt.Fprintf(w, "\nfunc (x %s) %s(%s) (%s, error) {\nvar r %s\nerr := x.c.Call(%s)\nreturn r, err\n}\n",
			ct, m.name, strings.Join(params, ", "), f.typ(m.result), f.typ(m.result), strings.Join(args, ", "))
	}
}

func upperFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// exported returns name, with its first letter lowered if iface is unexported.
func exported(iface, name string) string {
	if r, _ := utf8.DecodeRuneInString(iface); unicode.IsUpper(r) {
		return name
	}
	return lowerFirst(name)
}
