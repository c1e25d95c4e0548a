package gen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config says which interfaces to generate code for.
type Config struct {
	// Dir is the directory of the package that declares the interfaces. Default: ".".
	Dir string
	// Types names the interfaces. Their code goes into one file, in this order.
	Types []string
	// Output is the file to write. Default: the first type's name, lower-cased, followed by
	// "_tandem.go", in Dir. A relative path is relative to Dir. The file belongs to the
	// interfaces' package, so it should be in Dir.
	Output string
}

// File is a generated source file.
type File struct {
	// Path is where the file goes.
	Path string
	// Content is its gofmt'ed source.
	Content []byte
}

// Write writes the file to Path.
func (f *File) Write() error {
	return os.WriteFile(f.Path, f.Content, 0o644)
}

// Problem is one reason code cannot be generated for an interface or one of its methods.
type Problem struct {
	// Pos is where the interface or method is declared, as "file.go:line:column", with the
	// file relative to the package directory when it is inside it; "" if unknown.
	Pos string
	// Name is the interface, or the interface and method as "Calculator.Add".
	Name string
	// Msg says what is wrong.
	Msg string
}

// String formats the problem as "pos: name: msg".
func (p Problem) String() string {
	s := p.Name + ": " + p.Msg
	if p.Pos != "" {
		s = p.Pos + ": " + s
	}
	return s
}

// Error lists the problems that kept [Generate] from writing code, one per line.
type Error struct {
	// Problems are grouped by interface, in the order given, then sorted by method name.
	Problems []Problem
	// PackageErrors are the package's own load and type errors, if any: a problem may
	// stem from them.
	PackageErrors []string
}

// Error joins the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	s := "tandem gen: cannot generate:\n\t" + strings.Join(lines, "\n\t")
	if len(e.PackageErrors) > 0 {
		s += "\npackage errors:\n\t" + strings.Join(e.PackageErrors, "\n\t")
	}
	return s
}

// Generate loads the package in cfg.Dir, checks the named interfaces and returns the file
// that implements them. It fails with an [*Error] listing every unsupported interface or
// method, or with the package's load errors. It does not write the file: see [File.Write].
//
// Code previously generated in the package is ignored while loading, so a stale file that
// no longer compiles does not stand in the way of regenerating it.
func Generate(ctx context.Context, cfg Config) (*File, error) {
	if len(cfg.Types) == 0 {
		return nil, errors.New("tandem gen: no interface named (want -type Name[,Name...])")
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "."
	}
	pkg, err := load(ctx, dir)
	if err != nil {
		return nil, err
	}
	var services []*service
	var problems []Problem
	seen := map[string]bool{}
	for _, name := range cfg.Types {
		if seen[name] {
			problems = append(problems, Problem{Name: name, Msg: "listed twice"})
			continue
		}
		seen[name] = true
		svc, ps := pkg.service(name)
		problems = append(problems, ps...)
		if svc != nil {
			services = append(services, svc)
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems, PackageErrors: pkg.errs}
	}
	src, err := render(pkg, cfg.Types, services)
	if err != nil {
		return nil, err
	}
	out := cfg.Output
	if out == "" {
		out = strings.ToLower(cfg.Types[0]) + "_tandem.go"
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(pkg.dir, out)
	}
	return &File{Path: out, Content: src}, nil
}

// Stale regenerates every file under root that tandem gen wrote (recognised by its header,
// which records the interfaces) and returns the paths whose content differs from a fresh
// generation. Directories named testdata or starting with "." or "_" are skipped. CI runs it
// through a test so that stale generated code fails the build.
func Stale(ctx context.Context, root string) ([]string, error) {
	var stale []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != root && (n == "testdata" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		have, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		types, ok := headerTypes(have)
		if !ok {
			return nil
		}
		f, err := Generate(ctx, Config{Dir: filepath.Dir(path), Types: types, Output: filepath.Base(path)})
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !bytes.Equal(f.Content, have) {
			stale = append(stale, path)
		}
		return nil
	})
	return stale, err
}
