package gen_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-rpc/tandem/gen"
)

// TestGeneratedCompiles builds and vets the code generated for each test package, in a copy
// of the package inside the module (so its imports resolve), including the one whose
// identifiers collide with the names generated code would pick.
func TestGeneratedCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	for _, tc := range []struct {
		dir   string
		types []string
	}{
		{"calc", []string{"Calculator"}},
		{"embed", []string{"Shapes", "Echo"}},
		{"names", []string{"Mixed", "lower"}},
		{"stale", []string{"Counter"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			tmp, err := os.MkdirTemp("testdata", "_build")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tmp) })
			src := filepath.Join("testdata", tc.dir)
			entries, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), "_tandem.go") {
					continue
				}
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := gen.Generate(context.Background(), gen.Config{Dir: tmp, Types: tc.types})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Write(); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("go", "vet", "./"+filepath.ToSlash(tmp)).CombinedOutput()
			if err != nil {
				t.Fatalf("go vet: %v\n%s\n%s", err, out, f.Content)
			}
		})
	}
}
