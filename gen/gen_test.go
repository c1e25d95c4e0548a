package gen_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-rpc/tandem/gen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden generates code for the packages in testdata and compares it, or the error that
// explains why it cannot be generated, with testdata/NAME.golden.
func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		dir   string
		types []string
	}{
		{"calc", "calc", []string{"Calculator"}},
		{"embed", "embed", []string{"Shapes", "Echo"}},
		{"names", "names", []string{"Mixed", "lower"}},
		{"stale", "stale", []string{"Counter"}},
		{"bad_methods", "bad", []string{"Bad"}},
		{"bad_types", "bad", []string{"Struct", "Generic", "Empty", "Constraint", "Value", "Missing", "Struct"}},
		{"bad_names", "notiface", []string{"Store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := gen.Generate(context.Background(), gen.Config{Dir: filepath.Join("testdata", tt.dir), Types: tt.types})
			var got []byte
			if err != nil {
				var ge *gen.Error
				if !errors.As(err, &ge) {
					t.Fatalf("Generate: %v", err)
				}
				got = []byte("error: " + err.Error() + "\n")
			} else {
				got = f.Content
				want := filepath.Join("testdata", tt.dir, strings.ToLower(tt.types[0])+"_tandem.go")
				if abs, _ := filepath.Abs(want); f.Path != abs {
					t.Errorf("Path = %s, want %s", f.Path, abs)
				}
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s", golden, got)
			}
		})
	}
}

// TestDeterministic generates the same code twice.
func TestDeterministic(t *testing.T) {
	cfg := gen.Config{Dir: filepath.Join("testdata", "embed"), Types: []string{"Shapes", "Echo"}}
	a, err := gen.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gen.Generate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Content, b.Content) {
		t.Error("two runs generated different code")
	}
}

// TestOutputAndWrite writes to a chosen file name.
func TestOutputAndWrite(t *testing.T) {
	dir := t.TempDir()
	f, err := gen.Generate(context.Background(), gen.Config{Dir: filepath.Join("testdata", "calc"), Types: []string{"Calculator"}, Output: filepath.Join(dir, "x.go")})
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != filepath.Join(dir, "x.go") {
		t.Fatalf("Path = %s", f.Path)
	}
	if err := f.Write(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Path)
	if err != nil || !bytes.Equal(got, f.Content) {
		t.Fatalf("written file differs: %v", err)
	}
	t.Logf("generated code for a 6-method interface: %d bytes", len(got))
}

// TestNoTypes rejects an empty type list.
func TestNoTypes(t *testing.T) {
	if _, err := gen.Generate(context.Background(), gen.Config{Dir: "testdata/calc"}); err == nil {
		t.Fatal("Generate with no types succeeded")
	}
}

// TestLoadError reports a package that does not load.
func TestLoadError(t *testing.T) {
	_, err := gen.Generate(context.Background(), gen.Config{Dir: "testdata/nonexistent", Types: []string{"X"}})
	if err == nil {
		t.Fatal("Generate on a missing directory succeeded")
	}
}
